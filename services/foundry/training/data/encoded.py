"""`EncodedSplit`: a tokenized split in compact columnar form, and the way back to words.

Every variable-length column is one flat array plus offsets (no per-row Python objects), so a
split of 100k sentences is a handful of numpy arrays that save to one `.npz` and load in
milliseconds:

- `input_ids` (int32, flat) with `offsets` (int64, rows + 1): the token ids of each row, special
  tokens included, no padding;
- `labels`: token classification: int32, flat, aligned with `input_ids`: the word's label id on
  the first sub-token of each word, `IGNORE_INDEX` (-100) elsewhere (other sub-tokens, special
  tokens); text classification: int32 `(rows,)`; multi-label: float32 multi-hot `(rows, labels)`;
  chat: int32, flat, aligned with `input_ids`: the token's own id on assistant tokens (unshifted),
  `IGNORE_INDEX` elsewhere (see `foundry.training.chat.encode`);
- `word_ids` (int32, flat, aligned with `input_ids`; token classification only): the index of
  the word a token belongs to within its example, -1 for special tokens;
- `row_example` (int32, rows): the example a row comes from (a long sentence can be split into
  several rows, see `encode.Overflow`), `example_ids` the examples' ids;
- `word_labels` (int32, flat) with `word_offsets` (int64, examples + 1; token classification
  only): the gold label id of every word of every example, what word-level metrics compare with;
- `truncated` (int32, examples): what truncation cost each example: whole words lost (token
  classification) or tokens cut (text classification).

`word_predictions` maps token-level predictions back onto the words (a word takes the prediction
of its first sub-token; a word that produced no token at all gets `O`, id 0), aligned with
`word_labels`, so `metrics.entity_metrics_from_codes(word_labels, predictions, word_offsets,
labels)` scores at the word level whatever the tokenizer did.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from foundry.runtime.errors import CorruptionError
from foundry.runtime.examples import Task
from foundry.training.data.labels import IGNORE_INDEX

Int32 = npt.NDArray[np.int32]
Int64 = npt.NDArray[np.int64]

_ARRAYS = (
    "input_ids",
    "offsets",
    "labels",
    "word_ids",
    "row_example",
    "word_labels",
    "word_offsets",
    "truncated",
)


@dataclass(frozen=True, slots=True)
class EncodingStats:
    """What encoding did to a split; every loss of information is counted here."""

    num_examples: int
    num_rows: int
    num_tokens: int
    num_label_tokens: int
    max_row_length: int
    #: examples that lost words (token classification) or tokens (text classification)
    num_truncated_examples: int
    #: whole words lost to truncation (token classification)
    num_truncated_words: int
    #: tokens cut by truncation (text classification, chat)
    num_truncated_tokens: int
    #: examples split into several rows (token classification, window overflow)
    num_windowed_examples: int
    #: words the tokenizer turned into no token at all (they decode as O)
    num_words_without_tokens: int

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]

    def warnings(self) -> list[str]:
        """One human-readable line per kind of loss, for the job's log and events."""
        lines = []
        if self.num_truncated_words:
            lines.append(
                f"{self.num_truncated_words} words of {self.num_truncated_examples} examples were "
                "truncated away (raise max_seq_length or use window overflow)"
            )
        if self.num_truncated_tokens:
            lines.append(
                f"{self.num_truncated_tokens} tokens of {self.num_truncated_examples} examples were "
                "truncated away (raise max_seq_length)"
            )
        if self.num_words_without_tokens:
            lines.append(f"{self.num_words_without_tokens} words produced no token and are predicted as O")
        return lines


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """A tokenized split (see the module docstring for the columns)."""

    task: Task
    max_length: int
    input_ids: Int32
    offsets: Int64
    labels: npt.NDArray[Any]
    word_ids: Int32
    row_example: Int32
    example_ids: tuple[str, ...]
    word_labels: Int32
    word_offsets: Int64
    truncated: Int32

    # --- shape ---------------------------------------------------------------------------------

    @property
    def num_rows(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def num_examples(self) -> int:
        return len(self.example_ids)

    @property
    def lengths(self) -> Int64:
        """Tokens per row."""
        return np.diff(self.offsets)

    def row(self, index: int) -> Int32:
        """The token ids of one row."""
        return self.input_ids[self.offsets[index] : self.offsets[index + 1]]

    @property
    def token_aligned_labels(self) -> bool:
        """Whether `labels` is flat and aligned with `input_ids` (token classification, chat)."""
        return self.task in (Task.TOKEN_CLASSIFICATION, Task.CHAT)

    def label_tokens_per_row(self) -> Int64:
        """Positions per row that carry a label (1 per row for classification)."""
        if not self.token_aligned_labels:
            return np.ones(self.num_rows, np.int64)
        counted = np.concatenate([[0], np.cumsum(self.labels != IGNORE_INDEX)])
        return np.asarray(counted[self.offsets[1:]] - counted[self.offsets[:-1]], np.int64)

    def stats(self) -> EncodingStats:
        token_task = self.task is Task.TOKEN_CLASSIFICATION
        rows_per_example = np.bincount(self.row_example, minlength=self.num_examples)
        return EncodingStats(
            num_examples=self.num_examples,
            num_rows=self.num_rows,
            num_tokens=int(self.input_ids.size),
            num_label_tokens=int(self.label_tokens_per_row().sum()),
            max_row_length=int(self.lengths.max()) if self.num_rows else 0,
            num_truncated_examples=int(np.count_nonzero(self.truncated)),
            num_truncated_words=int(self.truncated.sum()) if token_task else 0,
            num_truncated_tokens=0 if token_task else int(self.truncated.sum()),
            num_windowed_examples=int(np.count_nonzero(rows_per_example > 1)),
            num_words_without_tokens=self._words_without_tokens() if token_task else 0,
        )

    def _words_without_tokens(self) -> int:
        seen = np.zeros(self.word_labels.size, bool)
        seen[self.first_subtokens()[1]] = True
        return int(self.word_labels.size - np.count_nonzero(seen)) - int(self.truncated.sum())

    # --- back to words -------------------------------------------------------------------------

    def first_subtokens(self) -> tuple[Int64, Int64]:
        """(token position, index into `word_labels`) of the first sub-token of every word of
        every row (token classification)."""
        previous = np.empty_like(self.word_ids)
        previous[1:] = self.word_ids[:-1]
        previous[self.offsets[:-1][self.lengths > 0]] = -1
        first = np.flatnonzero((self.word_ids >= 0) & (self.word_ids != previous))
        token_rows = np.repeat(np.arange(self.num_rows), self.lengths)
        examples = self.row_example[token_rows[first]]
        return first, self.word_offsets[examples] + self.word_ids[first]

    def word_predictions(self, token_predictions: npt.ArrayLike) -> Int32:
        """Word-level label ids (aligned with `word_labels`) from flat token-level ones (aligned
        with `input_ids`): each word takes its first sub-token's; words without tokens get 0 (O)."""
        predictions = np.asarray(token_predictions)
        if predictions.shape != self.input_ids.shape:
            raise ValueError(f"expected {self.input_ids.size} token predictions, got {predictions.shape}")
        words = np.zeros(self.word_labels.size, np.int32)
        positions, word_index = self.first_subtokens()
        words[word_index] = predictions[positions]
        return words

    def token_positions(self, rows: npt.ArrayLike) -> tuple[Int64, Int64]:
        """(flat positions of every token of `rows`, in row order; each row's length)."""
        index = np.asarray(rows, np.int64)
        lengths = self.lengths[index]
        starts = np.repeat(self.offsets[index] - (np.cumsum(lengths) - lengths), lengths)
        return starts + np.arange(int(lengths.sum())), lengths

    def scatter(self, rows: npt.ArrayLike, padded: npt.ArrayLike, out: npt.NDArray[Any]) -> None:
        """Copy a padded `(batch, length, ...)` output of `rows` into the flat, `input_ids`-aligned
        array `out` (padding dropped)."""
        values = np.asarray(padded)
        positions, lengths = self.token_positions(rows)
        out[positions] = values[np.arange(values.shape[1])[None, :] < lengths[:, None]]

    def split_words(self, flat: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        """A flat per-word array (like `word_labels`) cut into one array per example."""
        return np.split(flat, self.word_offsets[1:-1])

    # --- subsets -------------------------------------------------------------------------------

    def subset(self, example_indices: npt.ArrayLike) -> EncodedSplit:
        """The rows of the given examples (sorted, unique indices), as a new split."""
        keep = np.unique(np.asarray(example_indices, np.int64))
        rows = np.flatnonzero(np.isin(self.row_example, keep))
        input_ids, offsets = _gather(self.input_ids, self.offsets, rows)
        if self.task is Task.TOKEN_CLASSIFICATION:
            labels = _gather(self.labels, self.offsets, rows)[0]
            word_ids = _gather(self.word_ids, self.offsets, rows)[0]
            word_labels, word_offsets = _gather(self.word_labels, self.word_offsets, keep)
        elif self.task is Task.CHAT:
            labels = _gather(self.labels, self.offsets, rows)[0]
            word_ids, word_labels, word_offsets = self.word_ids, self.word_labels, self.word_offsets
        else:
            labels, word_ids, word_labels, word_offsets = (
                self.labels[rows],
                self.word_ids,
                self.word_labels,
                self.word_offsets,
            )
        return EncodedSplit(
            task=self.task,
            max_length=self.max_length,
            input_ids=input_ids,
            offsets=offsets,
            labels=labels,
            word_ids=word_ids,
            row_example=np.searchsorted(keep, self.row_example[rows]).astype(np.int32),
            example_ids=tuple(self.example_ids[i] for i in keep),
            word_labels=word_labels,
            word_offsets=word_offsets,
            truncated=self.truncated[keep],
        )

    # --- bytes ---------------------------------------------------------------------------------

    def to_npz(self, meta: dict[str, Any] | None = None) -> bytes:
        """The split as compressed `.npz` bytes; `meta` (JSON-able) is stored beside it."""
        header = {"task": self.task.value, "max_length": self.max_length, "meta": meta or {}}
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            header=np.array(json.dumps(header, sort_keys=True)),
            example_ids=np.array(self.example_ids, dtype=str),
            **{name: getattr(self, name) for name in _ARRAYS},
        )
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, data: bytes, *, source: str = "npz") -> tuple[EncodedSplit, dict[str, Any]]:
        """Parse `to_npz` bytes into (split, meta); `CorruptionError` if they are not that."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                header = json.loads(str(npz["header"][()]))
                arrays = {name: npz[name] for name in _ARRAYS}
                example_ids = tuple(str(i) for i in npz["example_ids"].tolist())
            split = cls(
                task=Task(header["task"]),
                max_length=int(header["max_length"]),
                example_ids=example_ids,
                **arrays,
            )
            split.validate()
        except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as exc:
            raise CorruptionError(
                f"{source} is not a readable encoded split: {exc}", reason="MALFORMED_ENCODED_SPLIT"
            ) from exc
        return split, dict(header["meta"])

    def validate(self) -> None:
        """Raise `ValueError` unless the columns are consistent with one another."""
        rows, examples, tokens = self.num_rows, self.num_examples, self.input_ids.size
        token_task = self.task is Task.TOKEN_CLASSIFICATION
        checks = {
            "offsets": self.offsets.ndim == 1 and self.offsets[0] == 0 and self.offsets[-1] == tokens,
            "row_example": self.row_example.shape == (rows,)
            and (rows == 0 or 0 <= self.row_example.min() <= self.row_example.max() < examples),
            "labels": self.labels.shape[0] == (tokens if self.token_aligned_labels else rows),
            "word_ids": self.word_ids.size == (tokens if token_task else 0),
            "word_offsets": self.word_offsets.shape == ((examples + 1,) if token_task else (1,))
            and self.word_offsets[-1] == self.word_labels.size,
            "truncated": self.truncated.shape == (examples,),
        }
        broken = [name for name, ok in checks.items() if not ok]
        if broken:
            raise ValueError(f"inconsistent columns: {', '.join(broken)}")


def _gather(flat: npt.NDArray[Any], offsets: Int64, rows: Int64) -> tuple[npt.NDArray[Any], Int64]:
    """The given rows of a flat + offsets column, as a new flat + offsets column."""
    lengths = np.diff(offsets)[rows]
    new_offsets = np.zeros(rows.size + 1, np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    positions = np.repeat(offsets[rows] - new_offsets[:-1], lengths) + np.arange(int(new_offsets[-1]))
    return flat[positions], new_offsets
