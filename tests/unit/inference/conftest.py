"""A tiny BERT (tokenizer and ONNX graph) for the inference unit tests, built once."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModelForTokenClassification

from foundry.runtime.examples import Task
from foundry.training.export.onnx_export import export_onnx
from helpers.training_models import tiny_bert, vocab_from_texts

TEXTS = ["alice lives in paris", "bob flew to new york", "北京 is nice 😀", "hello world 🎉"]
LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(
        tmp_path_factory.mktemp("tiny"), vocab_from_texts(TEXTS), Task.TOKEN_CLASSIFICATION, LABELS
    )


@pytest.fixture(scope="session")
def tiny_onnx(tiny_folder: Path) -> Path:
    model = AutoModelForTokenClassification.from_pretrained(tiny_folder)
    return export_onnx(model, tiny_folder / "model.onnx").path
