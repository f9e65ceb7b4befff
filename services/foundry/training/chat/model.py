"""The causal LM of a chat job: loading it, and saving the model version's checkpoint.

`load_causal_lm(folder, seed=..., gradient_checkpointing=...)` is `AutoModelForCausalLM` from a
base-model or checkpoint folder, under the same rules as the encoders (safetensors only, local
files only, fp32: the trainer's autocast picks the compute precision). The key/value cache is
switched off for training (`use_cache=False`: nothing is decoded, and a cache would hide packed
sequences from the mask); gradient checkpointing recomputes each layer's activations in the
backward pass (non-reentrant, so it also works with LoRA's frozen inputs).

`save_chat_checkpoint(model, tokenizer, template, folder)` writes the Hugging Face checkpoint of
a chat model version: safetensors weights, config, the fast tokenizer with the job's chat
template in its `tokenizer_config.json` (so `apply_chat_template` and the inference service
render prompts exactly as training did), and `generation_config.json` whose `eos_token_id` lists
the template's end-of-turn token and the tokenizer's eos token (generation stops at either).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from foundry.domain.chattemplates import ChatTemplate
from foundry.training.models import require_safetensors, save_checkpoint


def load_causal_lm(
    folder: str | Path, *, seed: int | None = None, gradient_checkpointing: bool = False
) -> PreTrainedModel:
    """The causal LM saved in `folder` (see the module docstring)."""
    root = require_safetensors(folder)
    with torch.random.fork_rng(enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(
            root, use_safetensors=True, local_files_only=True, dtype=torch.float32
        )
    if not isinstance(model, PreTrainedModel):  # pragma: no cover - the Auto class returns one
        raise TypeError(f"unexpected model type {type(model).__name__}")
    model.config.use_cache = False
    if gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5.x
        if callable(enable):
            enable({"use_reentrant": False})
        else:  # pragma: no cover - older transformers
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})  # type: ignore[no-untyped-call]
    return model


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, template: ChatTemplate) -> list[int]:
    """The ids generation stops at: the template's end-of-turn token, then the eos token."""
    vocab = tokenizer.get_vocab()
    names = [template.end_of_turn, getattr(tokenizer, "eos_token", None)]
    return list(dict.fromkeys(vocab[n] for n in names if isinstance(n, str) and n in vocab))


def save_chat_checkpoint(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, template: ChatTemplate, folder: str | Path
) -> list[Path]:
    """Write the chat model version's Hugging Face checkpoint (see the module docstring)."""
    stops = stop_token_ids(tokenizer, template)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stops[-1] if stops else None)
    settings: dict[str, Any] = {"do_sample": False, "eos_token_id": stops or None, "pad_token_id": pad}
    bos = getattr(tokenizer, "bos_token_id", None)
    if isinstance(bos, int):
        settings["bos_token_id"] = bos
    model.generation_config = GenerationConfig(**settings)  # type: ignore[no-untyped-call]
    model.config.use_cache = True  # the exported model decodes with its cache
    tokenizer.chat_template = template.source
    return save_checkpoint(model, tokenizer, folder)


__all__ = ["load_causal_lm", "save_chat_checkpoint", "stop_token_ids"]
