"""`foundry train` builds its JobSpec from a spec file first, then the flags; a bad file names --spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry.api.common.v1 import task_pb2
from foundry.cli.train import build_spec
from foundry.runtime.errors import InvalidArgumentError


def test_spec_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "learning_rate: 0.0002\nmax_seq_length: 512\ncausal_lm: {packing: true}\nmodel_name: from-file\n"
    )
    spec = build_spec(
        dataset="chat@abc",
        base_model="tiny-lm",
        task="chat",
        name="",
        epochs=2,
        chat_template="chatml",
        spec_file=path,
    )
    assert spec.task == task_pb2.TASK_CHAT
    assert (spec.dataset.name, spec.dataset.version_id) == ("chat", "abc")
    assert spec.base_model.imported.name == "tiny-lm"
    assert spec.learning_rate == pytest.approx(2e-4) and spec.max_seq_length == 512 and spec.epochs == 2
    assert spec.causal_lm.packing and spec.causal_lm.chat_template_name == "chatml"
    assert spec.model_name == "from-file"


def test_a_bad_spec_file_names_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("learning_rat: 0.1\n")
    with pytest.raises(InvalidArgumentError) as caught:
        build_spec(dataset="d", base_model="b", task="ner", name="", spec_file=path)
    assert caught.value.violations[0].field == "--spec"
