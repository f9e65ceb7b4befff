"""Contextual substitution with a masked language model from the object store (Kobayashi 2018):
chosen words are masked and replaced by one of the model's `top_k` whole-word predictions for
that position (drawn in proportion to their probabilities, never the original word).

The model is a base model imported through the training service's base-model store whose
checkpoint has a masked-LM head (`*ForMaskedLM` / `*ForPreTraining`); it is materialized,
verified by sha256, into the local cache and loaded once per operator. A batch is one forward
pass. Token classification: only `O` tokens are replaced, one word for one word, so tags stay
as they are. Classification: any word of the text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from foundry.augmentation.operators.base import Draws, Family, Operator, OperatorContext, Params
from foundry.augmentation.operators.ner import with_tokens
from foundry.augmentation.synonyms import match_case
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import Example, Task

MLM_HEADS = ("ForMaskedLM", "ForPreTraining")


class MlmParams(Params):
    base_model: str = Field(..., min_length=1, description="base model NAME[@VERSION] with a masked-LM head")
    rate: float = Field(0.15, ge=0.0, le=1.0, description="probability that each eligible word is replaced")
    top_k: int = Field(10, ge=1, le=100, description="predictions drawn from")
    max_length: int = Field(128, ge=8, le=512, description="longest input in sub-word tokens")


class MlmSubstitution(Operator[MlmParams]):
    name = "mlm_substitution"
    description = "Replace words (O tokens for NER) by a masked language model's contextual predictions."
    tasks = frozenset({Task.TOKEN_CLASSIFICATION, Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION})
    family = Family.MODEL
    params_type: ClassVar[type[Params]] = MlmParams

    def __init__(self, params: MlmParams, context: OperatorContext) -> None:
        super().__init__(params, context)
        if context.base_model is None:
            raise FailedPreconditionError("no base-model store available", reason="NO_BASE_MODELS")
        folder: Path = context.base_model(params.base_model)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if not any(a.endswith(MLM_HEADS) for a in config.get("architectures") or []):
            raise FailedPreconditionError(
                f"base model {params.base_model} has no masked-LM head (architectures "
                f"{config.get('architectures')}); mlm_substitution needs a *ForMaskedLM checkpoint",
                reason="NOT_A_MASKED_LM",
            )
        import torch
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        self.torch = torch
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        self.model: Any = AutoModelForMaskedLM.from_pretrained(folder).eval()
        vocab = self.tokenizer.get_vocab()
        allowed = np.zeros(len(vocab), dtype=bool)
        for token, index in vocab.items():
            if index < len(allowed) and token.isalpha() and not token.startswith("##"):
                allowed[index] = True
        self.allowed = torch.from_numpy(allowed)
        self.id_to_token = {i: t for t, i in vocab.items()}

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        draw = Draws(rng)
        ner = [e.tags is not None for e in batch]
        words = [
            list(e.tokens or []) if n else (e.text or "").split() for e, n in zip(batch, ner, strict=True)
        ]
        picks: list[list[int]] = []
        for example, ws, n in zip(batch, words, ner, strict=True):
            tags = example.tags or []
            picks.append(
                [
                    i
                    for i, w in enumerate(ws)
                    if w.isalpha() and (not n or tags[i] == "O") and draw() < self.params.rate
                ]
            )
        rows = [i for i, p in enumerate(picks) if p]
        if not rows:
            return list(batch)
        masked = [
            [self.tokenizer.mask_token if j in set(picks[i]) else w for j, w in enumerate(words[i])]
            for i in rows
        ]
        encoded = self.tokenizer(
            masked,
            is_split_into_words=True,
            truncation=True,
            max_length=self.params.max_length,
            padding=True,
            return_tensors="pt",
        )
        is_mask = encoded["input_ids"] == self.tokenizer.mask_token_id
        mask_positions = is_mask.nonzero().tolist()
        with self.torch.inference_mode():
            logits = self.model(**encoded).logits[is_mask]
            logits = logits.masked_fill(~self.allowed[: logits.shape[-1]], -float("inf"))
            top = logits.topk(self.params.top_k + 1, dim=-1)
        probs = top.values.softmax(-1).numpy()
        out = list(batch)
        by_row: dict[int, list[int]] = {}
        for k, (row, _position) in enumerate(mask_positions):
            by_row.setdefault(row, []).append(k)
        for r, i in enumerate(rows):
            new = list(words[i])
            ks = by_row.get(r, [])  # truncated masks got no prediction: the word stays
            for j, k in zip(sorted(picks[i]), ks, strict=False):
                candidates = [
                    (self.id_to_token[int(t)], p)
                    for t, p in zip(top.indices[k].tolist(), probs[k], strict=True)
                ]
                candidates = [(t, p) for t, p in candidates if t.lower() != words[i][j].lower() and p > 0]
                if not candidates:
                    continue
                total = sum(p for _, p in candidates)
                u, acc = draw() * total, 0.0
                choice = candidates[-1][0]
                for token, p in candidates:
                    acc += p
                    if u < acc:
                        choice = token
                        break
                new[j] = match_case(words[i][j], choice)
            if new != words[i]:
                example = batch[i]
                out[i] = (
                    with_tokens(example, new, list(example.tags or []))
                    if ner[i]
                    else replace(example, text=" ".join(new))
                )
        return out
