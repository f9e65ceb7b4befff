"""Encode a split's examples with the base model's fast tokenizer into an `EncodedSplit`.

Token classification: the words (`Example.tokens`) go to the tokenizer as pre-split words
(`is_pretokenized`, what `is_split_into_words=True` does in transformers), all examples in one
batch call. The word ids the tokenizer returns align labels: the first sub-token of each word
carries the word's label id, the other sub-tokens and the special tokens carry `IGNORE_INDEX`.

A sentence longer than `max_length` tokens is handled by `Overflow`:

- `WINDOW` (the default, what the JobSpec contract says for token classification): the sentence
  is cut at word boundaries into consecutive windows that each fit, every window becomes a row,
  and no word is lost (a single word longer than a whole window keeps its first sub-tokens, so
  its label survives);
- `TRUNCATE`: the sentence keeps its first `max_length` tokens; the words that lose every
  sub-token are counted per example (`EncodedSplit.truncated`, `stats().num_truncated_words`).

Text classification and multi-label: the text is tokenized whole and truncated at `max_length`;
the tokens cut are counted per example. Labels become one class id per row, or a multi-hot
float vector.

Only the sentences that overflow are tokenized a second time; everything else is a single
`encode_batch` plus numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from itertools import chain

import numpy as np
from tokenizers import Tokenizer

from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.runtime.examples import Example, Task
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import IGNORE_INDEX, LabelMap
from foundry.training.data.tokenizer import TokenizerInfo

#: example ids named in an error message
_ERROR_EXAMPLES = 5

_Row = tuple[int, list[int], list[int | None]]


class Overflow(StrEnum):
    """What happens to a sentence longer than `max_length` tokens (token classification)."""

    WINDOW = "window"
    TRUNCATE = "truncate"


def encode_split(
    examples: Sequence[Example],
    tokenizer: TokenizerInfo,
    label_map: LabelMap,
    max_length: int,
    *,
    overflow: Overflow = Overflow.WINDOW,
    require_labels: bool = True,
) -> EncodedSplit:
    """Encode `examples` for `label_map.task`.

    With `require_labels` (training, evaluation) an example without labels is an error;
    without it (prediction) its labels are `IGNORE_INDEX`. Labels outside the map, and tags
    that do not match the words one to one, are always errors (`FailedPreconditionError`
    naming the examples)."""
    if max_length <= tokenizer.num_special_tokens:
        raise InvalidArgumentError(
            f"max_length {max_length} leaves no room next to {tokenizer.num_special_tokens} special tokens",
            reason="MAX_LENGTH_TOO_SMALL",
        )
    if label_map.task is Task.TOKEN_CLASSIFICATION:
        return _encode_words(examples, tokenizer, label_map, max_length, overflow, require_labels)
    if label_map.task in (Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION):
        return _encode_texts(examples, tokenizer, label_map, max_length, require_labels)
    raise InvalidArgumentError(f"task {label_map.task.value} is not encoded here", reason="UNSUPPORTED_TASK")


# --- token classification ---------------------------------------------------------------------------


def _encode_words(
    examples: Sequence[Example],
    tokenizer: TokenizerInfo,
    label_map: LabelMap,
    max_length: int,
    overflow: Overflow,
    require_labels: bool,
) -> EncodedSplit:
    words = [list(example.tokens or ()) for example in examples]
    word_labels, word_offsets = _word_labels(examples, words, label_map, require_labels)
    encodings = tokenizer.backend.encode_batch(words, is_pretokenized=True)
    rows: list[_Row] = [(i, e.ids, e.word_ids) for i, e in enumerate(encodings)]
    long = [i for i, (_, ids, _) in enumerate(rows) if len(ids) > max_length]
    truncated = np.zeros(len(examples), np.int32)
    if long:
        truncating = tokenizer.truncating(max_length)
        if overflow is Overflow.TRUNCATE:
            redone = truncating.encode_batch([words[i] for i in long], is_pretokenized=True)
            replacements = {i: [(i, e.ids, e.word_ids)] for i, e in zip(long, redone, strict=True)}
        else:
            budget = max_length - tokenizer.num_special_tokens
            replacements = _windows(long, words, rows, budget, truncating)
        for i in long:
            seen = {w for _, _, word_ids in replacements[i] for w in word_ids if w is not None}
            truncated[i] = len({w for w in rows[i][2] if w is not None} - seen)
        rows = [row for i, row in enumerate(rows) for row in replacements.get(i, [row])]
    split = EncodedSplit(
        task=Task.TOKEN_CLASSIFICATION,
        max_length=max_length,
        input_ids=np.fromiter(chain.from_iterable(r[1] for r in rows), np.int32),
        offsets=_offsets([len(r[1]) for r in rows]),
        labels=np.full(sum(len(r[1]) for r in rows), IGNORE_INDEX, np.int32),  # filled below
        word_ids=np.array([-1 if w is None else w for r in rows for w in r[2]], np.int32),
        row_example=np.array([r[0] for r in rows], np.int32),
        example_ids=tuple(example.id for example in examples),
        word_labels=word_labels,
        word_offsets=word_offsets,
        truncated=truncated,
    )
    positions, word_index = split.first_subtokens()
    split.labels[positions] = word_labels[word_index]
    return split


def _windows(
    long: list[int], words: list[list[str]], rows: list[_Row], budget: int, truncating: Tokenizer
) -> dict[int, list[_Row]]:
    """Each long example cut into consecutive whole-word windows of at most `budget` tokens."""
    spans: list[tuple[int, int, int]] = []
    for i in long:
        counts = np.bincount([w for w in rows[i][2] if w is not None], minlength=len(words[i]))
        start, used = 0, 0
        for w, count in enumerate(counts.tolist()):
            if used + count > budget and w > start:
                spans.append((i, start, w))
                start, used = w, 0
            used += count
        spans.append((i, start, len(words[i])))
    encodings = truncating.encode_batch(
        [words[i][start:end] for i, start, end in spans], is_pretokenized=True
    )
    windows: dict[int, list[_Row]] = {}
    for (i, start, _), encoding in zip(spans, encodings, strict=True):
        word_ids = [None if w is None else w + start for w in encoding.word_ids]
        windows.setdefault(i, []).append((i, encoding.ids, word_ids))
    return windows


def _word_labels(
    examples: Sequence[Example], words: list[list[str]], label_map: LabelMap, require_labels: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The gold label id of every word (flat) and the per-example word offsets."""
    label2id = label_map.label2id
    problems: dict[str, list[str]] = {"missing": [], "misaligned": [], "unknown": []}
    flat: list[int] = []
    for example, example_words in zip(examples, words, strict=True):
        tags = example.tags
        if tags is None or (not tags and example_words):
            if require_labels:
                problems["missing"].append(example.id)
            flat.extend([IGNORE_INDEX] * len(example_words))
        elif len(tags) != len(example_words):
            problems["misaligned"].append(example.id)
            flat.extend([IGNORE_INDEX] * len(example_words))
        else:
            ids = [label2id.get(tag, -1) for tag in tags]
            if -1 in ids:
                problems["unknown"].append(example.id)
            flat.extend(ids)
    _raise_problems(problems, label_map)
    return np.array(flat, np.int32), _offsets([len(w) for w in words])


# --- text classification ------------------------------------------------------------------------------


def _encode_texts(
    examples: Sequence[Example],
    tokenizer: TokenizerInfo,
    label_map: LabelMap,
    max_length: int,
    require_labels: bool,
) -> EncodedSplit:
    missing_text = [e.id for e in examples if e.text is None]
    if missing_text:
        _raise_problems({"without text": missing_text}, label_map)
    texts = [e.text or "" for e in examples]
    rows = [e.ids for e in tokenizer.backend.encode_batch(texts)]
    truncated = np.zeros(len(examples), np.int32)
    long = [i for i, ids in enumerate(rows) if len(ids) > max_length]
    if long:
        redone = tokenizer.truncating(max_length).encode_batch([texts[i] for i in long])
        for i, encoding in zip(long, redone, strict=True):
            truncated[i] = len(rows[i]) - len(encoding.ids)
            rows[i] = encoding.ids
    return EncodedSplit(
        task=label_map.task,
        max_length=max_length,
        input_ids=np.fromiter(chain.from_iterable(rows), np.int32),
        offsets=_offsets([len(ids) for ids in rows]),
        labels=_class_labels(examples, label_map, require_labels),
        word_ids=np.empty(0, np.int32),
        row_example=np.arange(len(examples), dtype=np.int32),
        example_ids=tuple(example.id for example in examples),
        word_labels=np.empty(0, np.int32),
        word_offsets=np.zeros(1, np.int64),
        truncated=truncated,
    )


def _class_labels(examples: Sequence[Example], label_map: LabelMap, require_labels: bool) -> np.ndarray:
    """Class ids `(rows,)`, or a multi-hot `(rows, labels)` float32 matrix for multi-label."""
    label2id = label_map.label2id
    problems: dict[str, list[str]] = {"missing": [], "unknown": []}
    multi = label_map.task is Task.MULTILABEL_CLASSIFICATION
    if multi:
        hot = np.zeros((len(examples), label_map.num_labels), np.float32)
        for row, example in enumerate(examples):
            if example.labels is None:
                problems["missing"].append(example.id)
                hot[row] = IGNORE_INDEX
            elif any(label not in label2id for label in example.labels):
                problems["unknown"].append(example.id)
            else:
                hot[row, [label2id[label] for label in example.labels]] = 1.0
        labels: np.ndarray = hot
    else:
        ids = [IGNORE_INDEX if e.label is None else label2id.get(e.label, -1) for e in examples]
        problems["missing"] = [e.id for e in examples if e.label is None]
        problems["unknown"] = [e.id for e, i in zip(examples, ids, strict=True) if i == -1]
        labels = np.array(ids, np.int32)
    if not require_labels:
        problems["missing"] = []
    _raise_problems(problems, label_map)
    return labels


# --- helpers ------------------------------------------------------------------------------------------


def _offsets(lengths: list[int]) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


_DESCRIPTIONS = {
    "missing": "have no labels",
    "misaligned": "have not one tag per token",
    "unknown": "have labels outside the label map",
    "without text": "have no text",
}


def _raise_problems(problems: dict[str, list[str]], label_map: LabelMap) -> None:
    found = {kind: ids for kind, ids in problems.items() if ids}
    if not found:
        return
    parts = [
        f"{len(ids)} examples {_DESCRIPTIONS[kind]} (e.g. {', '.join(ids[:_ERROR_EXAMPLES])})"
        for kind, ids in found.items()
    ]
    raise FailedPreconditionError(
        f"the examples do not fit a {label_map.task.value} model with labels {list(label_map.labels)}: "
        + "; ".join(parts),
        reason="EXAMPLES_DO_NOT_MATCH_TASK",
        metadata={kind: ",".join(ids[:_ERROR_EXAMPLES]) for kind, ids in found.items()},
    )
