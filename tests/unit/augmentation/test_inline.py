"""Inline examples (PreviewAugment) are checked before any operator sees them."""

from __future__ import annotations

import pytest

from foundry.augmentation.inline import check_inline
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Example, Task


def test_a_malformed_tag_is_named_not_a_crash() -> None:
    good = Example(id="a", tokens=["alice", "in", "paris"], tags=["B-PER", "O", "B-LOC"])
    check_inline([good], Task.TOKEN_CLASSIFICATION)
    bad = Example(id="b", tokens=["x", "y"], tags=["O", "x" * 1000])
    with pytest.raises(InvalidArgumentError) as err:
        check_inline([good, bad], Task.TOKEN_CLASSIFICATION)
    assert [v.field for v in err.value.violations] == ["examples[1].tags[1]"]
    assert len(str(err.value)) < 1000


def test_tokens_and_tags_must_match() -> None:
    for example, field in [
        (Example(id="c", tags=["O"]), "examples[0].tokens"),
        (Example(id="d", tokens=["a", "b"], tags=["O"]), "examples[0].tags"),
    ]:
        with pytest.raises(InvalidArgumentError) as err:
            check_inline([example], Task.TOKEN_CLASSIFICATION)
        assert err.value.violations[0].field == field
    check_inline([Example(id="e", text="no tags needed")], Task.TEXT_CLASSIFICATION)
