"""Statistics of a dataset version, per split: label and entity-type distributions, length
histograms, chat turn and length figures. Collected in one streaming pass.

Chat lengths (prompt: every message before the last assistant turn; response: that turn) are
in characters, or in tokens of a base model's tokenizer when the recipe names one
(`StatisticsOptions.tokenizer`; the histograms then say LENGTH_UNIT_TOKENS and the tokenizer).

The result is a plain dict in the JSON shape of `foundry.common.v1.SplitStatistics` (field names
as in the proto, enum values by name), so the manifest stores it as is and the servicer parses
it into the message without a hand-written mapping.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from foundry.domain.tags import entity_types
from foundry.domain.tokencount import TokenCounter
from foundry.runtime.examples import Example, Split, batch_to_examples

CHAR_BUCKETS: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 16384)
WORD_BUCKETS: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512, 1024)
TURN_BUCKETS: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 32)

SPLIT_ENUM = {
    Split.TRAIN: "SPLIT_TRAIN",
    Split.VALIDATION: "SPLIT_VALIDATION",
    Split.TEST: "SPLIT_TEST",
    Split.UNASSIGNED: "SPLIT_UNASSIGNED",
}


def histogram(values: Sequence[int] | np.ndarray, bounds: Sequence[int], unit: str) -> dict[str, Any]:
    """`LengthHistogram`: counts per bucket (`bucket_counts[i]` counts values <= `bounds[i]` and >
    `bounds[i-1]`; one more count at the end for values above the last bound) and quantiles."""
    array = np.asarray(values, dtype=np.int64)
    counts = np.bincount(np.searchsorted(np.asarray(bounds), array, side="left"), minlength=len(bounds) + 1)
    result: dict[str, Any] = {
        "unit": unit,
        "bucket_upper_bounds": list(bounds),
        "bucket_counts": [int(c) for c in counts],
        "count": int(array.size),
    }
    if array.size:
        p50, p95, p99 = np.percentile(array, [50, 95, 99])
        result.update(
            min=int(array.min()),
            max=int(array.max()),
            mean=round(float(array.mean()), 3),
            p50=float(p50),
            p95=float(p95),
            p99=float(p99),
        )
    return result


@dataclass
class _SplitCollector:
    counter: TokenCounter | None = None
    rows: int = 0
    unlabeled: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    entities: Counter[str] = field(default_factory=Counter)
    roles: Counter[str] = field(default_factory=Counter)
    chars: list[int] = field(default_factory=list)
    words: list[int] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    prompt_chars: list[int] = field(default_factory=list)
    response_chars: list[int] = field(default_factory=list)
    #: lengths of rows added column-wise, as arrays
    char_arrays: list[np.ndarray] = field(default_factory=list)
    word_arrays: list[np.ndarray] = field(default_factory=list)

    def add(self, example: Example) -> None:
        self.rows += 1
        labeled = False
        if example.label is not None:
            self.labels[example.label] += 1
            labeled = True
        if example.labels is not None:
            self.labels.update(example.labels)
            labeled = True
        if example.tags is not None:
            self.entities.update(entity_types(example.tags))
            labeled = True
        if example.tokens is not None:
            self.words.append(len(example.tokens))
            self.chars.append(sum(map(len, example.tokens)) + max(len(example.tokens) - 1, 0))
        elif example.text is not None:
            self.chars.append(len(example.text))
            self.words.append(len(example.text.split()))
        if example.messages is not None:
            labeled = True
            self.turns.append(len(example.messages))
            self.roles.update(m.role for m in example.messages)
            last_assistant = max(
                (i for i, m in enumerate(example.messages) if m.role == "assistant"), default=-1
            )
            prompt = [m.content for m in example.messages[: max(last_assistant, 0)]]
            response = [example.messages[last_assistant].content] if last_assistant >= 0 else []
            measure = self.counter.count if self.counter is not None else _chars
            lengths = measure([*prompt, *response])
            self.prompt_chars.append(sum(lengths[: len(prompt)]))
            self.response_chars.extend(lengths[len(prompt) :])
        if not labeled:
            self.unlabeled += 1

    def add_columns(self, batch: pa.RecordBatch) -> None:
        """The same counts as `add` for every row of `batch`, computed on its columns (no chat rows)."""
        n = batch.num_rows
        self.rows += n
        labeled = np.zeros(n, dtype=bool)
        label, labels, tags = batch.column("label"), batch.column("labels"), batch.column("tags")
        if label.null_count < n:
            self.labels.update(_value_counts(label.drop_null()))
            labeled |= _present(label)
        if labels.null_count < n:
            self.labels.update(_value_counts(pc.list_flatten(labels)))
            labeled |= _present(labels)
        if tags.null_count < n:
            flat = pc.list_flatten(tags)
            begins = flat.filter(pc.starts_with(flat, "B-"))
            self.entities.update(_value_counts(pc.utf8_slice_codeunits(begins, 2)))
            labeled |= _present(tags)
        self.unlabeled += int((~labeled).sum())
        tokens, text = batch.column("tokens"), batch.column("text")
        has_tokens = _present(tokens)
        if has_tokens.any():
            counts = (
                pc.fill_null(pc.list_value_length(tokens), 0).to_numpy(zero_copy_only=False).astype(np.int64)
            )
            lengths = pc.utf8_length(pc.list_flatten(tokens)).to_numpy(zero_copy_only=False).astype(np.int64)
            cumulative = np.concatenate([[0], np.cumsum(lengths)])
            ends = np.cumsum(counts)
            chars = cumulative[ends] - cumulative[ends - counts] + np.maximum(counts - 1, 0)
            self.word_arrays.append(counts[has_tokens])
            self.char_arrays.append(chars[has_tokens])
        texts = text.filter(pa.array(~has_tokens & _present(text)))
        if len(texts):
            self.char_arrays.append(pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64))
            self.word_arrays.append(
                np.fromiter((len(t.split()) for t in texts.to_pylist()), np.int64, len(texts))
            )

    def result(self, split: Split) -> dict[str, Any]:
        out: dict[str, Any] = {
            "split": SPLIT_ENUM[split],
            "rows": self.rows,
            "label_counts": dict(self.labels.most_common()),
            "entity_type_counts": dict(self.entities.most_common()),
            "unlabeled": self.unlabeled,
        }
        chars = np.concatenate([np.asarray(self.chars, dtype=np.int64), *self.char_arrays])
        words = np.concatenate([np.asarray(self.words, dtype=np.int64), *self.word_arrays])
        if chars.size:
            out["text_length"] = histogram(chars, CHAR_BUCKETS, "LENGTH_UNIT_CHARACTERS")
        if words.size:
            out["token_length"] = histogram(words, WORD_BUCKETS, "LENGTH_UNIT_WORDS")
        if self.turns:
            unit = "LENGTH_UNIT_TOKENS" if self.counter is not None else "LENGTH_UNIT_CHARACTERS"
            prompt = histogram(self.prompt_chars, CHAR_BUCKETS, unit)
            response = histogram(self.response_chars, CHAR_BUCKETS, unit)
            if self.counter is not None:
                prompt["tokenizer"] = response["tokenizer"] = self.counter.name
            out["chat"] = {
                "turns": histogram(self.turns, TURN_BUCKETS, "LENGTH_UNIT_TURNS"),
                "prompt_length": prompt,
                "response_length": response,
                "role_counts": dict(self.roles.most_common()),
            }
        return out


class StatisticsCollector:
    """Feed every example of the final version once; `per_split()` gives `SplitStatistics` dicts."""

    def __init__(self, counter: TokenCounter | None = None) -> None:
        self._splits: dict[Split, _SplitCollector] = {}
        self._counter = counter

    def add(self, example: Example) -> None:
        collector = self._splits.get(example.split)
        if collector is None:
            collector = self._splits[example.split] = _SplitCollector(self._counter)
        collector.add(example)

    def add_batch(self, batch: pa.RecordBatch, split: Split) -> None:
        """Feed rows of one split as an Arrow batch: column-wise, or row by row for chat rows."""
        collector = self._splits.get(split)
        if collector is None:
            collector = self._splits[split] = _SplitCollector(self._counter)
        if batch.column("messages").null_count < batch.num_rows:
            for example in batch_to_examples(batch):
                collector.add(example)
        else:
            collector.add_columns(batch)

    def per_split(self) -> list[dict[str, Any]]:
        return [self._splits[s].result(s) for s in Split if s in self._splits]


def _chars(texts: Sequence[str]) -> list[int]:
    return [len(text) for text in texts]


def _value_counts(values: pa.Array) -> dict[str, int]:
    counts = pc.value_counts(values)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))


def _present(column: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)
