"""The module that is exported: `input_ids` and `attention_mask` in, `logits` out.

BERT-like models also take `token_type_ids`. Single-segment classification (all of Foundry's
tasks) always feeds zeros there, so the wrapper fixes them to zeros *inside* the graph
(`zeros_like(input_ids)`) instead of exporting a third input. The served contract is then the
same for every encoder (and it is exactly what the Open Inference Protocol endpoint documents:
INT64 `input_ids` and `attention_mask` in, FP32 `logits` out); callers cannot send segment ids
that the model never saw in training; and the inference service does not have to produce them.
Models that take no `token_type_ids` (DistilBERT, RoBERTa-style models without segment
embeddings) are called without them.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"


def takes_token_type_ids(model: nn.Module) -> bool:
    """Whether the model's forward accepts `token_type_ids` and has segment embeddings."""
    if "token_type_ids" not in inspect.signature(model.forward).parameters:
        return False
    config = getattr(model, "config", None)
    return int(getattr(config, "type_vocab_size", 1) or 0) > 0


class LogitsOnly(nn.Module):
    """`forward(input_ids, attention_mask) -> logits`, with `token_type_ids` fixed to zeros."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.zero_token_types = takes_token_type_ids(model)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.zero_token_types:
            output = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            )
        else:
            output = self.model(input_ids=input_ids, attention_mask=attention_mask)
        logits = output.logits if hasattr(output, "logits") else output[0]
        if not isinstance(logits, torch.Tensor):  # pragma: no cover - transformers outputs tensors
            raise TypeError("the model returned no logits tensor")
        return logits


__all__ = ["INPUT_NAMES", "OUTPUT_NAME", "LogitsOnly", "takes_token_type_ids"]
