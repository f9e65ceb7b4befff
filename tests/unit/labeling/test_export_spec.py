"""An export's confidence threshold is a probability; anything else is INVALID_ARGUMENT."""

from __future__ import annotations

import pytest

from foundry.labeling.aggregation.levels import Method
from foundry.labeling.annotations import AnnotatorFilter
from foundry.labeling.exporting import ExportSpec
from foundry.runtime.errors import InvalidArgumentError


def test_an_export_threshold_outside_zero_to_one_is_refused() -> None:
    ExportSpec(Method.MAJORITY_VOTE, None, AnnotatorFilter(), min_confidence=0.7)
    for bad in (float("nan"), float("inf"), -0.1, 1.5):
        with pytest.raises(InvalidArgumentError) as err:
            ExportSpec(Method.MAJORITY_VOTE, None, AnnotatorFilter(), min_confidence=bad)
        assert err.value.violations[0].field == "min_confidence"
