"""Dynamic padding: the rows of one batch as torch tensors, padded to the batch's longest row.

`Collator(encoded, tokenizer)(rows)` gives a `Batch`: `input_ids`, `attention_mask`,
`token_type_ids` (zeros, only for models that take them) and `labels`, padded on the right to the
longest row of the batch (rounded up to `pad_to_multiple_of`, 8 suits tensor cores on GPUs);
token labels are padded with `IGNORE_INDEX`. The batch also counts what the training loop
normalizes and reports with:

- `num_tokens`: real (non-padding) tokens, for tokens/s;
- `num_label_tokens`: positions whose label enters the loss (first sub-tokens of labeled words;
  rows for classification). The loop sums the per-position losses of every micro-batch of a
  step and divides by one number for the whole run (`loop.loss.step_divisor`: the label tokens
  of an average step), so that each labeled token weighs the same however the rows were grouped
  by length or cut into micro-batches; it reports the token mean of each step.

Chat (causal LM): `labels` are the next-token targets, shifted per conversation (position t holds
the label of token t + 1; the last token of a conversation and every non-assistant token hold
`IGNORE_INDEX`), so the loss is the same cross-entropy over positions as token classification.
With `pack_length` the rows of a batch are packed into shared sequences of at most that many
tokens (`foundry.training.chat.packing`): `position_ids` restart per conversation and
`attention_mask` is a 4D block-causal mask that keeps attention inside each conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from foundry.runtime.examples import Task
from foundry.training.chat.packing import block_causal_mask, pack_rows
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import IGNORE_INDEX
from foundry.training.data.tokenizer import TokenizerInfo


@dataclass(frozen=True)
class Batch:
    """One padded batch; `rows` are its row indices in the `EncodedSplit`."""

    rows: npt.NDArray[np.int64]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    labels: torch.Tensor
    num_tokens: int
    num_label_tokens: int
    #: packed chat batches: positions restarting per conversation (else None)
    position_ids: torch.Tensor | None = None

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """The keyword arguments of the model's forward (labels left out: the loop owns the loss)."""
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.token_type_ids is not None:
            inputs["token_type_ids"] = self.token_type_ids
        if self.position_ids is not None:
            inputs["position_ids"] = self.position_ids
        return inputs

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        """The batch with its tensors on `device`."""

        def move(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device, non_blocking=non_blocking)

        return Batch(
            rows=self.rows,
            input_ids=move(self.input_ids),
            attention_mask=move(self.attention_mask),
            token_type_ids=None if self.token_type_ids is None else move(self.token_type_ids),
            labels=move(self.labels),
            num_tokens=self.num_tokens,
            num_label_tokens=self.num_label_tokens,
            position_ids=None if self.position_ids is None else move(self.position_ids),
        )


class Collator:
    """Turns row indices of one `EncodedSplit` into padded `Batch`es."""

    def __init__(
        self,
        encoded: EncodedSplit,
        tokenizer: TokenizerInfo,
        *,
        with_token_type_ids: bool | None = None,
        pad_to_multiple_of: int | None = None,
        pack_length: int | None = None,
    ) -> None:
        self.encoded = encoded
        self.pack_length = pack_length
        self.pad_token_id = tokenizer.pad_token_id
        self.with_token_type_ids = (
            tokenizer.uses_token_type_ids if with_token_type_ids is None else with_token_type_ids
        )
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, rows: npt.ArrayLike) -> Batch:
        encoded = self.encoded
        index = np.asarray(rows, np.int64)
        positions, lengths = encoded.token_positions(index)
        if encoded.task is Task.CHAT:
            return self._chat(index, positions, lengths)
        width = self._width(int(lengths.max()) if index.size else 0)
        mask = np.arange(width)[None, :] < lengths[:, None]
        input_ids = np.full((index.size, width), self.pad_token_id, np.int64)
        input_ids[mask] = encoded.input_ids[positions]
        if encoded.task is Task.TOKEN_CLASSIFICATION:
            labels = np.full((index.size, width), IGNORE_INDEX, np.int64)
            labels[mask] = encoded.labels[positions]
            num_label_tokens = int(np.count_nonzero(labels != IGNORE_INDEX))
            label_tensor = torch.from_numpy(labels)
        elif encoded.task is Task.MULTILABEL_CLASSIFICATION:
            hot = encoded.labels[index]
            num_label_tokens = int(np.count_nonzero(hot[:, 0] != IGNORE_INDEX)) if hot.size else 0
            label_tensor = torch.from_numpy(np.ascontiguousarray(hot, np.float32))
        else:
            classes = encoded.labels[index].astype(np.int64)
            num_label_tokens = int(np.count_nonzero(classes != IGNORE_INDEX))
            label_tensor = torch.from_numpy(classes)
        attention = mask.astype(np.int64)
        return Batch(
            rows=index,
            input_ids=torch.from_numpy(input_ids),
            attention_mask=torch.from_numpy(attention),
            token_type_ids=torch.zeros_like(torch.from_numpy(input_ids))
            if self.with_token_type_ids
            else None,
            labels=label_tensor,
            num_tokens=int(lengths.sum()),
            num_label_tokens=num_label_tokens,
        )

    def _width(self, longest: int) -> int:
        if self.pad_to_multiple_of:
            return -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        return longest

    def _chat(
        self, index: npt.NDArray[np.int64], positions: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
    ) -> Batch:
        """A chat batch: next-token targets per conversation, one row each or packed."""
        encoded = self.encoded
        total = int(lengths.sum())
        ends = np.cumsum(lengths)
        targets = np.full(total, IGNORE_INDEX, np.int64)
        targets[:-1] = encoded.labels[positions][1:]
        targets[ends[lengths > 0] - 1] = IGNORE_INDEX
        if self.pack_length:
            sequence, start, count = pack_rows(lengths, self.pack_length)
        else:
            sequence, start, count = np.arange(index.size), np.zeros(index.size, np.int64), index.size
        row = np.repeat(np.arange(index.size), lengths)
        within = np.arange(total) - np.repeat(ends - lengths, lengths)
        column = start[row] + within
        width = self._width(int((start + lengths).max()) if index.size else 0)
        input_ids = np.full((count, width), self.pad_token_id, np.int64)
        input_ids[sequence[row], column] = encoded.input_ids[positions]
        labels = np.full((count, width), IGNORE_INDEX, np.int64)
        labels[sequence[row], column] = targets
        position_ids: torch.Tensor | None = None
        if self.pack_length:
            segments = np.full((count, width), -1, np.int64)
            segments[sequence[row], column] = row
            attention = block_causal_mask(segments)
            places = np.zeros((count, width), np.int64)
            places[sequence[row], column] = within
            position_ids = torch.from_numpy(places)
        else:
            attention = torch.from_numpy((np.arange(width)[None, :] < lengths[:, None]).astype(np.int64))
        return Batch(
            rows=index,
            input_ids=torch.from_numpy(input_ids),
            attention_mask=attention,
            token_type_ids=None,
            labels=torch.from_numpy(labels),
            num_tokens=total,
            num_label_tokens=int(np.count_nonzero(targets != IGNORE_INDEX)),
            position_ids=position_ids,
        )
