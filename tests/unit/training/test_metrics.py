"""Metrics: entity scores equal seqeval's exactly, in strict IOB2 mode and in its default mode;
classification scores equal scikit-learn's."""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from seqeval.metrics import accuracy_score, classification_report, f1_score  # type: ignore[import-untyped]
from seqeval.scheme import IOB2  # type: ignore[import-untyped]
from sklearn import metrics as sk  # type: ignore[import-untyped]

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.training.entitymetrics import (
    EntityMetrics,
    F1Mode,
    entity_metrics,
    entity_metrics_from_codes,
    entity_report,
)
from foundry.training.metrics import METRIC_KEYS, classification_metrics, multilabel_metrics

WNUT = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17"
Tags = list[list[str]]


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval's UndefinedMetricWarning
        yield


def read_conll(path: Path) -> Tags:
    sentences: Tags = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            sentences[-1].append(line.rsplit("\t", 1)[1])
        elif sentences[-1]:
            sentences.append([])
    return [s for s in sentences if s]


def assert_equals_seqeval(y_true: Tags, y_pred: Tags, mode: F1Mode = F1Mode.STRICT) -> EntityMetrics:
    """Every figure of ours is exactly seqeval's (==, not approx), in `mode`."""
    ours = entity_metrics(y_true, y_pred, mode)
    options = {"mode": "strict", "scheme": IOB2} if mode is F1Mode.STRICT else {}
    report = classification_report(y_true, y_pred, output_dict=True, **options)
    types = [name for name in report if not name.endswith(" avg")]
    assert list(ours.per_type) == types
    for name in types:
        row, mine = report[name], ours.per_type[name]
        assert (mine.precision, mine.recall, mine.f1, mine.support) == (
            row["precision"],
            row["recall"],
            row["f1-score"],
            row["support"],
        )
    assert ours.f1 == f1_score(y_true, y_pred, **options)
    if any(y_true):
        assert ours.token_accuracy == accuracy_score(y_true, y_pred)
    if types:
        micro, macro = report["micro avg"], report["macro avg"]
        assert (ours.precision, ours.recall, ours.f1) == (
            micro["precision"],
            micro["recall"],
            micro["f1-score"],
        )
        assert (ours.macro_precision, ours.macro_recall, ours.macro_f1) == (
            macro["precision"],
            macro["recall"],
            macro["f1-score"],
        )
    return ours


def perturb(sentences: Tags, tags: list[str], rate: float, rng: random.Random) -> Tags:
    """Predictions made from the gold tags by replacing some at random (many become invalid
    IOB2 sequences: I- without B-, I-X after B-Y, ...)."""
    return [[rng.choice(tags) if rng.random() < rate else tag for tag in sentence] for sentence in sentences]


def test_random_inputs_including_invalid_sequences_equal_seqeval() -> None:
    rng = random.Random(7)
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-a-b", "I-a-b", "B", "I", "BX", "I-X-"]
    for _ in range(400):
        y_true = [[rng.choice(tags) for _ in range(rng.randint(0, 14))] for _ in range(rng.randint(1, 12))]
        y_pred = perturb(y_true, tags, rng.random(), rng)
        for mode in F1Mode:
            assert_equals_seqeval(y_true, y_pred, mode)


def test_default_mode_reads_stray_inside_tags_as_entities() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["I-PER", "I-PER", "O", "I-LOC"]]  # every entity started by a stray I-
    assert assert_equals_seqeval(gold, pred, F1Mode.STRICT).f1 == 0.0
    assert assert_equals_seqeval(gold, pred, F1Mode.DEFAULT).f1 == 1.0


def test_wnut17_predictions_equal_seqeval() -> None:
    rng = random.Random(17)
    dev = read_conll(WNUT / "emerging.dev.conll")
    tags = sorted({tag for sentence in dev for tag in sentence})
    assert assert_equals_seqeval(dev, dev).f1 == 1.0
    assert assert_equals_seqeval(dev, [["O"] * len(s) for s in dev]).f1 == 0.0
    for rate in (0.02, 0.3):
        perturbed = perturb(dev, tags, rate, rng)
        strict = assert_equals_seqeval(dev, perturbed).f1
        default = assert_equals_seqeval(dev, perturbed, F1Mode.DEFAULT).f1
        assert 0 < strict < 1 and 0 < default < 1
    train = read_conll(WNUT / "wnut17train.conll")
    assert_equals_seqeval(train, perturb(train, tags, 0.1, rng))
    test = read_conll(WNUT / "emerging.test.annotated")
    shifted = [s[1:] + s[:1] for s in test]  # entity boundaries off by one: few exact matches
    assert_equals_seqeval(test, shifted)


def test_id_input_gives_the_same_scores_as_strings() -> None:
    gold = read_conll(WNUT / "emerging.dev.conll")
    pred = perturb(gold, sorted({t for s in gold for t in s}), 0.1, random.Random(3))
    labels = ["O", *sorted({t for s in gold + pred for t in s} - {"O"})]
    index = {label: i for i, label in enumerate(labels)}
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in gold])])
    from_ids = entity_metrics_from_codes(
        np.array([index[t] for s in gold for t in s]),
        np.array([index[t] for s in pred for t in s]),
        offsets,
        labels,
    )
    assert from_ids == entity_metrics(gold, pred)


def test_entities_do_not_cross_sentences_and_types_must_match() -> None:
    ours = entity_metrics([["B-PER"], ["I-PER", "O"]], [["B-PER"], ["I-PER", "O"]])
    assert ours.num_true_entities == 1 and ours.f1 == 1.0
    wrong_type = entity_metrics([["B-PER", "I-PER"]], [["B-LOC", "I-LOC"]])
    assert wrong_type.f1 == 0.0 and set(wrong_type.per_type) == {"LOC", "PER"}
    empty = entity_metrics([["O", "O"]], [["O", "O"]])
    assert (empty.f1, empty.macro_f1, empty.token_accuracy, empty.per_type) == (0.0, 0.0, 1.0, {})


def test_bad_input_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="not IOB2"):
        entity_metrics([["S-PER"]], [["O"]])
    with pytest.raises(InvalidArgumentError, match="inconsistent"):
        entity_metrics([["O", "O"]], [["O"]])
    with pytest.raises(InvalidArgumentError, match="inconsistent"):
        entity_metrics([["O"]], [["O"], ["O"]])
    with pytest.raises(InvalidArgumentError, match="unlabeled"):
        entity_metrics_from_codes([0, -100], [0, 0], [0, 2], ["O", "B-X", "I-X"])


def test_entity_report_keys_are_stable_and_both_modes_labelled() -> None:
    tags = ["O", "B-PER", "I-PER"]
    result = entity_report([1, 2, 0], [2, 2, 0], [0, 3], tags)  # predicted: a stray I-PER I-PER
    assert {k for k in result if k.startswith("eval_")} == METRIC_KEYS[Task.TOKEN_CLASSIFICATION] - {
        "eval_loss"
    }
    assert result["eval_f1"] == result["eval_f1_default"] == 1.0
    assert result["eval_f1_strict"] == 0.0
    assert result["per_type"] == {"PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}}
    assert result["per_type_strict"] == {"PER": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}}
    assert set(result["f1_modes"]) == {"default", "strict"} and result["headline_mode"] == "default"


def test_classification_equals_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "d", "e"]
    for _ in range(30):
        n = int(rng.integers(1, 200))
        y_true = rng.integers(0, 4, n)  # class "e" never occurs in the truth
        y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, 5, n))
        ours = classification_metrics(y_true, y_pred, labels)
        assert ours.accuracy == sk.accuracy_score(y_true, y_pred)
        assert ours.macro_f1 == pytest.approx(
            sk.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12
        )
        assert ours.macro_precision == pytest.approx(
            sk.precision_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12
        )
        assert ours.macro_recall == pytest.approx(
            sk.recall_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12
        )
        assert ours.confusion == sk.confusion_matrix(y_true, y_pred, labels=range(5)).tolist()
        per_class = sk.f1_score(y_true, y_pred, labels=range(5), average=None, zero_division=0)
        assert [ours.per_class[label].f1 for label in labels] == pytest.approx(per_class, abs=1e-12)
    result = ours.to_dict()
    assert result["eval_micro_f1"] == result["eval_accuracy"]
    assert result["confusion_matrix"]["labels"] == labels
    with pytest.raises(InvalidArgumentError):
        classification_metrics([0, 5], [0, 0], labels)


def test_multilabel_equals_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    labels = ["x", "y", "z", "w"]
    for threshold in (0.3, 0.5, 0.8):
        truth = (rng.random((150, 4)) < 0.3).astype(np.float32)
        truth[:, 3] = 0  # a class that never occurs
        scores = np.clip(truth * 0.6 + rng.random((150, 4)) * 0.5, 0, 1)
        predicted = scores >= threshold
        ours = multilabel_metrics(truth, scores, labels, threshold=threshold)
        for average in ("micro", "macro"):
            expected = sk.f1_score(truth, predicted, average=average, zero_division=0)
            assert getattr(ours, f"{average}_f1") == pytest.approx(expected, abs=1e-12)
        assert ours.subset_accuracy == sk.accuracy_score(truth, predicted)
        assert ours.per_class["w"].support == 0
    assert set(ours.to_dict()) >= {"eval_micro_f1", "eval_macro_f1", "eval_subset_accuracy", "per_class"}
