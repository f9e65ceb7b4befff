"""Causal-LM ONNX export with a key/value cache: greedy parity with PyTorch `generate`, cache
logits against full-sequence logits, padding, the int8 gate (tiny Llama and GPT-2 from a config)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, PreTrainedModel

from foundry.domain.causallm import CausalSession, left_pad, position_ids
from foundry.training.export.causal import (
    CausalExport,
    Int8Gate,
    check_causal_signature,
    export_causal_lm,
    greedy_parity,
)
from foundry.training.export.onnx_export import ExportError
from helpers.training_models import tiny_causal_lm

CHAT = Path(__file__).parents[2] / "fixtures" / "chat" / "wnut17_chat.jsonl"


def chat_texts() -> list[str]:
    rows = [json.loads(line) for line in CHAT.read_text("utf-8").splitlines()]
    return [m["content"] for row in rows for m in row["messages"]]


class Exported:
    def __init__(self, folder: Path, arch: str) -> None:
        self.hf = tiny_causal_lm(folder / "hf", chat_texts(), arch=arch)
        self.model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(self.hf)
        self.tokenizer = Tokenizer.from_file(str(self.hf / "tokenizer.json"))
        self.prompts = [self.tokenizer.encode(t).ids[:12] for t in chat_texts()[:40:8]]
        self.quality = [self.tokenizer.encode(t).ids for t in chat_texts()[:12]]
        self.export: CausalExport = export_causal_lm(
            self.model, folder / "onnx", quality_inputs=self.quality, gate=Int8Gate(0.5, 0.5)
        )
        self.session = CausalSession(self.export.fp32.path)


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return Exported(tmp_path_factory.mktemp(request.param), request.param)


def test_onnx_greedy_equals_pytorch_generate_token_for_token(exported: Exported) -> None:
    eos = list(exported.model.generation_config.eos_token_id)
    parity = greedy_parity(exported.model, exported.export.fp32.path, exported.prompts, 16, eos_token_ids=eos)
    assert parity.matches, parity.first_mismatch
    assert parity.prompts == parity.matching_prompts == len(exported.prompts)
    assert parity.generated_tokens >= len(exported.prompts)
    assert parity.max_logit_diff < 1e-4


def test_cache_logits_equal_full_sequence_logits(exported: Exported) -> None:
    ids = exported.quality[1][:20]
    full_mask = np.ones((1, len(ids)), np.int64)
    session = exported.session
    full = session.step(
        np.asarray([ids], np.int64),
        full_mask,
        position_ids(full_mask),
        session.empty_cache(1),
        keep_all_logits=True,
    ).all_logits
    assert full is not None
    with torch.no_grad():
        reference = exported.model(input_ids=torch.tensor([ids])).logits[0].numpy()
    np.testing.assert_allclose(full[0], reference, atol=1e-4)
    # prompt of 5 tokens, then one token at a time through the cache
    out, mask = session.prefill([ids[:5]])
    incremental = [out.logits[0]]
    for token in ids[5:]:
        mask = np.concatenate([mask, np.ones((1, 1), np.int64)], axis=1)
        out = session.step(np.asarray([[token]], np.int64), mask, position_ids(mask)[:, -1:], out.cache)
        incremental.append(out.logits[0])
    np.testing.assert_allclose(np.stack(incremental), full[0, 4:], atol=1e-5)
    assert out.cache[0].shape == (1, exported.export.kv_heads, len(ids), exported.export.head_dim)


def test_left_padded_rows_compute_what_they_compute_alone(exported: Exported) -> None:
    session = exported.session
    text = max(exported.quality, key=len)
    prompts = [text[:3], text[2:11], text[5:11]]
    out, mask = session.prefill(prompts)
    input_ids, padded_mask = left_pad(prompts)
    assert (mask == padded_mask).all() and input_ids.shape == (3, 9)
    nxt = out.logits.argmax(-1)
    mask = np.concatenate([mask, np.ones((3, 1), np.int64)], axis=1)
    step = session.step(nxt[:, None].astype(np.int64), mask, position_ids(mask)[:, -1:], out.cache)
    for row, prompt in enumerate(prompts):
        alone, alone_mask = session.prefill([prompt])
        np.testing.assert_allclose(out.logits[row], alone.logits[0], atol=1e-5)
        alone_mask = np.concatenate([alone_mask, np.ones((1, 1), np.int64)], axis=1)
        token = np.asarray([[nxt[row]]], np.int64)
        alone_step = session.step(token, alone_mask, position_ids(alone_mask)[:, -1:], alone.cache)
        np.testing.assert_allclose(step.logits[row], alone_step.logits[0], atol=1e-5)


def test_graph_signature_and_recorded_export(exported: Exported) -> None:
    graph = onnx.load(str(exported.export.fp32.path))
    check_causal_signature(graph, exported.export.layers)
    record = exported.export.to_dict()
    assert record["files"]["fp32"]["sha256"] == exported.export.fp32.sha256
    assert record["cache"]["layers"] == exported.export.layers == 2
    del graph.graph.output[-1]
    with pytest.raises(ExportError, match="outputs are"):
        check_causal_signature(graph, exported.export.layers)


def test_int8_is_kept_when_it_keeps_quality(exported: Exported) -> None:
    quality = exported.export.int8_quality
    assert quality.kept and exported.export.int8 is not None and exported.export.int8.path.is_file()
    assert quality.tokens == sum(len(q) - 1 for q in exported.quality)
    assert quality.perplexity_increase is not None and abs(quality.perplexity_increase) < 0.5
    assert quality.next_token_agreement is not None and quality.next_token_agreement >= 0.5
    tokens, _ = CausalSession(exported.export.int8.path).greedy(exported.prompts[0], 4)
    assert len(tokens) == 4


def test_int8_is_dropped_when_it_does_not(exported: Exported, tmp_path: Path) -> None:
    strict = export_causal_lm(
        exported.model, tmp_path, quality_inputs=exported.quality, gate=Int8Gate(-1.0, 1.0)
    )
    assert not strict.int8_quality.kept and strict.int8 is None
    assert strict.int8_quality.reason.startswith("dropped: perplexity")
    assert not (tmp_path / "model.int8.onnx").exists() and (tmp_path / "model.onnx").is_file()
    unmeasured = export_causal_lm(exported.model, tmp_path / "no-texts", quality_inputs=[])
    assert unmeasured.int8 is None and "no quality texts" in unmeasured.int8_quality.reason
