"""A causal LM's ONNX graph contract, and the ONNX Runtime session that runs one forward step.

Shared by the side that writes the graph (`foundry.training.export.causal`, which also checks
its int8 variant and greedy parity through `CausalSession`) and the side that serves it
(`foundry.inference.generation`). The contract (the same names as Hugging Face Optimum and
ONNX Runtime GenAI use):

- inputs `input_ids` and `position_ids` (INT64, `[batch, sequence]`), `attention_mask` (INT64,
  `[batch, past_sequence + sequence]`, 1 for real tokens, 0 for padding), and per layer `i`
  `past_key_values.{i}.key` / `.value` (FP32, `[batch, kv_heads, past_sequence, head_dim]`);
- outputs `logits` (FP32, `[batch, sequence, vocab]`) and `present.{i}.key` / `.value` (the cache
  with this step's keys and values appended: `[batch, kv_heads, past_sequence + sequence, head_dim]`).

Padding is on the left (a row's real tokens end at the last column), so the newest token of
every row is always the last position; a row's position ids count only its real tokens
(`cumsum(mask) - 1`), so a padded row computes exactly what it would alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
POSITION_IDS = "position_ids"
LOGITS = "logits"
PAST_KEY = "past_key_values.{}.key"
PAST_VALUE = "past_key_values.{}.value"
PRESENT_KEY = "present.{}.key"
PRESENT_VALUE = "present.{}.value"
_PAST = re.compile(r"past_key_values\.(\d+)\.key")

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


def past_names(layers: int) -> list[str]:
    """`past_key_values.{i}.key`, `past_key_values.{i}.value` for every layer, in order."""
    return [name.format(i) for i in range(layers) for name in (PAST_KEY, PAST_VALUE)]


def present_names(layers: int) -> list[str]:
    """`present.{i}.key`, `present.{i}.value` for every layer, in order."""
    return [name.format(i) for i in range(layers) for name in (PRESENT_KEY, PRESENT_VALUE)]


@dataclass(slots=True)
class StepOutput:
    """Logits of each row's last position (`[batch, vocab]`) and the grown cache."""

    logits: Floats
    cache: list[Floats]
    all_logits: Floats | None = None


class CausalSession:
    """An ONNX Runtime session over a causal LM graph with a key/value cache (see module doc)."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        #: the execution provider that runs the graph
        self.provider: str = self.session.get_providers()[0]
        inputs = {value.name: value for value in self.session.get_inputs()}
        missing = [n for n in (INPUT_IDS, ATTENTION_MASK, POSITION_IDS) if n not in inputs]
        layers = sorted(int(m.group(1)) for n in inputs if (m := _PAST.fullmatch(n)))
        if missing or not layers or layers != list(range(len(layers))):
            raise ValueError(
                f"{path} is not a causal LM graph with a key/value cache (inputs {sorted(inputs)})"
            )
        self.layers = len(layers)
        shape = inputs[PAST_KEY.format(0)].shape
        self.kv_heads, self.head_dim = int(shape[1]), int(shape[3])
        self.vocab_size = _static_or_none(self.session.get_outputs()[0].shape[-1])
        self._past = past_names(self.layers)
        self._outputs = [LOGITS, *present_names(self.layers)]

    def empty_cache(self, batch: int) -> list[Floats]:
        """A cache with no positions for `batch` rows."""
        return [np.zeros((batch, self.kv_heads, 0, self.head_dim), np.float32) for _ in self._past]

    def step(
        self,
        input_ids: Ids,
        attention_mask: Ids,
        position_ids: Ids,
        cache: Sequence[Floats],
        *,
        keep_all_logits: bool = False,
    ) -> StepOutput:
        """One forward pass; `attention_mask` covers the cache and the new tokens."""
        feed: dict[str, Any] = {
            INPUT_IDS: input_ids,
            ATTENTION_MASK: attention_mask,
            POSITION_IDS: position_ids,
        }
        feed.update(zip(self._past, cache, strict=True))
        logits, *present = self.session.run(self._outputs, feed)
        return StepOutput(
            logits=np.ascontiguousarray(logits[:, -1, :]),
            cache=present,
            all_logits=logits if keep_all_logits else None,
        )

    def prefill(self, prompts: Sequence[Sequence[int]]) -> tuple[StepOutput, Ids]:
        """Run left-padded `prompts` together; return the step and their attention mask."""
        input_ids, mask = left_pad(prompts)
        out = self.step(input_ids, mask, position_ids(mask), self.empty_cache(len(prompts)))
        return out, mask

    def greedy(
        self, prompt: Sequence[int], max_new_tokens: int, eos_ids: Sequence[int] = ()
    ) -> tuple[list[int], list[Floats]]:
        """Greedy decoding of one prompt with the cache: the new tokens and each step's logits."""
        out, mask = self.prefill([prompt])
        tokens: list[int] = []
        logits: list[Floats] = []
        while True:
            logits.append(out.logits[0])
            token = int(out.logits[0].argmax())
            tokens.append(token)
            if token in eos_ids or len(tokens) >= max_new_tokens:
                return tokens, logits
            mask = np.concatenate([mask, np.ones((1, 1), np.int64)], axis=1)
            step_ids = np.array([[token]], np.int64)
            out = self.step(step_ids, mask, position_ids(mask)[:, -1:], out.cache)


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[Ids, Ids]:
    """Token ids padded on the left to the longest prompt, and their attention mask."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    width = max(len(p) for p in prompts)
    input_ids = np.full((len(prompts), width), pad_id, np.int64)
    mask = np.zeros((len(prompts), width), np.int64)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt) :] = prompt
        mask[row, width - len(prompt) :] = 1
    return input_ids, mask


def position_ids(mask: Ids) -> Ids:
    """Each column's position among its row's real tokens (0 on left padding)."""
    return np.asarray(np.clip(np.cumsum(mask, axis=1) - 1, 0, None), np.int64)


def _static_or_none(dim: Any) -> int | None:
    return int(dim) if isinstance(dim, int) else None


__all__ = [
    "ATTENTION_MASK",
    "INPUT_IDS",
    "LOGITS",
    "POSITION_IDS",
    "CausalSession",
    "StepOutput",
    "left_pad",
    "past_names",
    "position_ids",
    "present_names",
]
