"""The export step of a chat model version: ONNX with a key/value cache, int8, greedy parity.

`export_chat(model, out_dir, split, ...)` is the one call site of the causal-LM exporter
(`foundry.training.export.causal`): it exports the merged model to `out_dir/onnx/model.onnx`
(and `model.int8.onnx` where the int8 graph keeps quality on the split's conversations), then
decodes the prompts of the split's first conversations greedily with the ONNX graph and with
PyTorch's `generate`, and writes `out_dir/parity.json`. The gate is token equality: a version
whose ONNX greedy output differs from PyTorch's in any token is stored as rejected.

The prompts are each conversation's tokens up to its first trained assistant turn (the rendered
prompt with the generation header), so parity is checked on exactly what serving will see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedModel

from foundry.training.chat.metrics import assistant_turns
from foundry.training.data.encoded import EncodedSplit

#: conversations whose prompts are decoded for the parity gate
PARITY_PROMPTS = 8
#: conversations the int8 graph's quality is measured on
QUALITY_TEXTS = 32


@dataclass(frozen=True)
class ChatExport:
    """What the export step did: the parity report (JSON-able), whether the gate passed, and a
    one-line summary for the job's events."""

    parity: dict[str, Any]
    passed: bool
    reason: str
    message: str


def parity_prompts(split: EncodedSplit, count: int = PARITY_PROMPTS) -> list[list[int]]:
    """The token ids of the first `count` conversations up to their first assistant turn."""
    starts, _ = assistant_turns(split)
    rows = np.searchsorted(split.offsets, starts, side="right") - 1
    first: dict[int, int] = {}
    for row, start in zip(rows.tolist(), starts.tolist(), strict=True):
        first.setdefault(row, start)
    return [
        split.input_ids[split.offsets[row] : start].tolist() for row, start in list(first.items())[:count]
    ]


def export_chat(
    model: PreTrainedModel,
    out_dir: Path,
    split: EncodedSplit,
    *,
    opset: int,
    int8: bool,
    stop_ids: list[int],
    max_new_tokens: int,
) -> ChatExport:
    """Export `model` under `out_dir/onnx/` and check greedy parity (see the module docstring)."""
    from foundry.training.export.causal import export_causal_lm, greedy_parity

    texts = [split.row(i).tolist() for i in range(min(split.num_rows, QUALITY_TEXTS))]
    exported = export_causal_lm(model, out_dir / "onnx", opset=opset, int8=int8, quality_inputs=texts)
    prompts = parity_prompts(split)
    parity = greedy_parity(model, exported.fp32.path, prompts, max(1, max_new_tokens), eos_token_ids=stop_ids)
    report: dict[str, Any] = {
        **json.loads(parity.to_json()),
        "gate": "greedy_token_equality",
        "passed": bool(parity.matches),
        "export": exported.to_dict(),
    }
    (out_dir / "parity.json").write_text(json.dumps(report, indent=2, sort_keys=True), "utf-8")
    passed = bool(parity.matches)
    reason = (
        ""
        if passed
        else f"ONNX greedy decoding differs from PyTorch's on {parity.prompts - parity.matching_prompts} "
        f"of {parity.prompts} prompts"
    )
    int8_note = "int8 kept" if exported.int8 is not None else f"int8 dropped ({exported.int8_quality.reason})"
    message = (
        f"greedy parity {'passed' if passed else 'FAILED'}: {parity.matching_prompts}/{parity.prompts} "
        f"prompts token-equal, max |logit diff| {parity.max_logit_diff:.3g}; {int8_note}"
    )
    return ChatExport(report, passed, reason, message)


__all__ = ["ChatExport", "export_chat", "parity_prompts"]
