"""ONNX export of a causal LM with a key/value cache, its greedy parity, and a gated int8 variant.

The graph (contract in `foundry.domain.causallm`): `input_ids`, `attention_mask`,
`position_ids` and `past_key_values.{i}.key|value` in; `logits` and `present.{i}.key|value` out;
dynamic batch, sequence and past axes. One graph serves both the prompt (empty past) and each
decoding step (one token, the cache from the step before), for left- or right-padded rows.

How: `torch.onnx.export` (TorchScript, as the encoder export) of `CausalLMWithCache`, a wrapper
that takes the cache as flat tensors, builds a `DynamicCache` from them and returns the grown
cache flat again. Optimum's exporter was checked first: `optimum-onnx` 0.1.0 (the current
release) requires transformers < 4.58 and would downgrade the installed transformers 5, so it
is not used. The wrapper is architecture-agnostic (tested on Llama and GPT-2): transformers
builds the causal + padding mask and the rotary/learned positions itself from the given
`attention_mask` and `position_ids`. Attention is exported in "eager" form, as for encoders.

`greedy_parity` decodes prompts greedily with the graph (through the serving code, `CausalSession`)
and with PyTorch's `generate` (its own cache) and compares them token for token, with the largest
logit difference over every step.

int8 (ONNX Runtime dynamic quantization, `quantize_int8`'s settings) is kept only where it keeps
quality: on the given token sequences (teacher forcing, full sequence) the int8 graph's
perplexity may exceed the fp32 graph's by at most `Int8Gate.max_perplexity_increase` (relative)
and its next-token argmax must agree with fp32's on at least `min_next_token_agreement` of the
positions; otherwise the file is deleted. The measurement and the decision are in
`CausalExport.int8_quality`.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn
from transformers import DynamicCache, PreTrainedModel

from foundry.domain.bundle import FP32_FILE, INT8_FILE
from foundry.domain.causallm import (
    ATTENTION_MASK,
    INPUT_IDS,
    LOGITS,
    POSITION_IDS,
    CausalSession,
    past_names,
    position_ids,
    present_names,
)
from foundry.training.export.artifacts import ArtifactInfo, describe_artifact
from foundry.training.export.onnx_export import DEFAULT_OPSET, EXPORT_ATTENTION, ExportError
from foundry.training.export.quantize import Int8Settings, quantize_int8

#: the past length the graph is traced with (any > 0; the axis is dynamic)
_TRACE_PAST = 3


class CausalLMWithCache(nn.Module):
    """`forward(input_ids, attention_mask, position_ids, *flat_past) -> (logits, *flat_present)`."""

    def __init__(self, model: PreTrainedModel, layers: int) -> None:
        super().__init__()
        self.model = model
        self.layers = layers
        self.cache_arg = (
            "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        *past: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        pairs = [(past[2 * i], past[2 * i + 1]) for i in range(self.layers)]
        cache = DynamicCache(ddp_cache_data=pairs, config=self.model.config)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **{self.cache_arg: cache},
        )
        grown = out.cache if hasattr(out, "cache") else out.past_key_values
        flat: list[torch.Tensor] = []
        for layer in grown.layers:
            flat += [layer.keys, layer.values]
        return (out.logits, *flat)


@dataclass(frozen=True, slots=True)
class Int8Gate:
    """When the int8 variant is kept (see the module docstring)."""

    max_perplexity_increase: float = 0.02
    min_next_token_agreement: float = 0.95


@dataclass(frozen=True, slots=True)
class Int8Quality:
    """int8 against fp32 on the quality texts, and the decision."""

    kept: bool
    reason: str
    tokens: int = 0
    perplexity_fp32: float | None = None
    perplexity_int8: float | None = None
    perplexity_increase: float | None = None
    next_token_agreement: float | None = None


@dataclass(frozen=True, slots=True)
class CausalExport:
    """The written graphs (int8 None when dropped) and what the export measured."""

    fp32: ArtifactInfo
    int8: ArtifactInfo | None
    int8_quality: Int8Quality
    layers: int
    kv_heads: int
    head_dim: int
    opset: int
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: file names, sha256 and sizes, cache geometry, int8 decision, timings."""
        files = {
            name: {"file": info.path.name, "sha256": info.sha256, "size_bytes": info.size_bytes}
            for name, info in (("fp32", self.fp32), ("int8", self.int8))
            if info is not None
        }
        return {
            "files": files,
            "int8_quality": asdict(self.int8_quality),
            "cache": {"layers": self.layers, "kv_heads": self.kv_heads, "head_dim": self.head_dim},
            "opset": self.opset,
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class CausalParity:
    """ONNX greedy decoding against PyTorch `generate`, per prompt."""

    matches: bool
    prompts: int
    matching_prompts: int
    max_logit_diff: float
    generated_tokens: int
    first_mismatch: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def export_causal_lm(
    model: nn.Module,
    out_dir: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    int8: bool = True,
    quality_inputs: Sequence[Sequence[int]] = (),
    gate: Int8Gate | None = None,
    int8_settings: Int8Settings | None = None,
) -> CausalExport:
    """Export `model` (a merged, plain transformers causal LM) to `out_dir/model.onnx` and, where it
    keeps quality on `quality_inputs` (token id sequences), `out_dir/model.int8.onnx`."""
    if hasattr(model, "peft_config"):
        raise TypeError("export a plain transformers model: merge LoRA first")
    if not isinstance(model, PreTrainedModel):
        raise TypeError(f"expected a transformers PreTrainedModel, got {type(model).__name__}")
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    exported = copy.deepcopy(model)
    exported.to(device="cpu", dtype=torch.float32).eval()  # type: ignore[call-arg]
    exported.set_attn_implementation(EXPORT_ATTENTION)
    layers, kv_heads, head_dim = cache_geometry(exported)
    wrapper = CausalLMWithCache(exported, layers).eval()
    fp32_path = target / FP32_FILE
    _export(wrapper, fp32_path, layers, kv_heads, head_dim, opset, _vocab_size(exported))
    onnx.checker.check_model(str(fp32_path), full_check=True)
    check_causal_signature(onnx.load(str(fp32_path), load_external_data=False), layers)
    seconds["export"] = time.perf_counter() - start
    fp32 = describe_artifact(fp32_path)
    int8_info: ArtifactInfo | None = None
    if not int8:
        quality = Int8Quality(kept=False, reason="not requested")
    elif not any(len(ids) > 1 for ids in quality_inputs):
        quality = Int8Quality(kept=False, reason="no quality texts (two tokens or more) to measure it on")
    else:
        start = time.perf_counter()
        int8_path = target / INT8_FILE
        int8_info = quantize_int8(fp32_path, int8_path, int8_settings)
        quality = int8_quality(fp32_path, int8_path, quality_inputs, gate or Int8Gate())
        if not quality.kept:
            int8_path.unlink()
            int8_info = None
        seconds["int8"] = time.perf_counter() - start
    return CausalExport(fp32, int8_info, quality, layers, kv_heads, head_dim, opset, seconds)


def cache_geometry(model: nn.Module) -> tuple[int, int, int]:
    """Layers, key/value heads and head size, read from the cache of a 2-token forward pass."""
    with torch.no_grad():
        out = model(input_ids=torch.ones((1, 2), dtype=torch.int64), use_cache=True)
    cache = out.cache if hasattr(out, "cache") else out.past_key_values
    keys = cache.layers[0].keys
    return len(cache.layers), int(keys.shape[1]), int(keys.shape[3])


def _vocab_size(model: nn.Module) -> int:
    embeddings = model.get_input_embeddings()  # type: ignore[operator]
    return int(embeddings.num_embeddings)


def _export(
    wrapper: nn.Module, path: Path, layers: int, kv_heads: int, head_dim: int, opset: int, vocab: int
) -> None:
    batch, step = 2, 2
    ids = (torch.arange(batch * step, dtype=torch.int64).reshape(batch, step) % max(vocab - 1, 1)) + 1
    mask = torch.ones((batch, _TRACE_PAST + step), dtype=torch.int64)
    mask[1, :2] = 0
    positions = torch.from_numpy(position_ids(mask.numpy()))[:, _TRACE_PAST:]
    generator = torch.Generator().manual_seed(0)
    past = [
        torch.randn(batch, kv_heads, _TRACE_PAST, head_dim, generator=generator) for _ in range(2 * layers)
    ]
    inputs, outputs = (
        [INPUT_IDS, ATTENTION_MASK, POSITION_IDS, *past_names(layers)],
        [LOGITS, *present_names(layers)],
    )
    axes: dict[str, dict[int, str]] = {
        INPUT_IDS: {0: "batch", 1: "sequence"},
        POSITION_IDS: {0: "batch", 1: "sequence"},
        ATTENTION_MASK: {0: "batch", 1: "total_sequence"},
        LOGITS: {0: "batch", 1: "sequence"},
    }
    axes |= {name: {0: "batch", 2: "past_sequence"} for name in past_names(layers)}
    axes |= {name: {0: "batch", 2: "total_sequence"} for name in present_names(layers)}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.filterwarnings("ignore", message="Exporting aten::index operator of advanced indexing")
        torch.onnx.export(
            wrapper,
            (ids, mask, positions, *past),
            str(path),
            dynamo=False,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )


def check_causal_signature(graph_model: onnx.ModelProto, layers: int) -> None:
    """`ExportError` unless the graph has the cache contract's inputs and outputs, dynamic axes."""
    graph = graph_model.graph
    inputs = {v.name: v for v in graph.input}
    outputs = {v.name: v for v in graph.output}
    problems = []
    expected_in = [INPUT_IDS, ATTENTION_MASK, POSITION_IDS, *past_names(layers)]
    expected_out = [LOGITS, *present_names(layers)]
    if sorted(inputs) != sorted(expected_in):
        problems.append(f"inputs are {sorted(inputs)}, expected {expected_in}")
    if list(outputs) != expected_out:
        problems.append(f"outputs are {list(outputs)}, expected {expected_out}")
    for name, value in (inputs | outputs).items():
        dims = value.type.tensor_type.shape.dim
        dynamic = (0, 1) if len(dims) in (2, 3) else (0, 2)
        problems += [f"{name} axis {a} is fixed" for a in dynamic if a < len(dims) and not dims[a].dim_param]
    if problems:
        raise ExportError("the exported causal graph has the wrong signature: " + "; ".join(problems))


def int8_quality(
    fp32_path: Path, int8_path: Path, inputs: Sequence[Sequence[int]], gate: Int8Gate
) -> Int8Quality:
    """Perplexity and next-token agreement of int8 against fp32 (teacher forcing), and the decision."""
    fp32, int8 = CausalSession(fp32_path), CausalSession(int8_path)
    nll = {"fp32": 0.0, "int8": 0.0}
    agree = tokens = 0
    for ids in (list(s) for s in inputs if len(s) > 1):
        logits = {name: _full_logits(session, ids) for name, session in (("fp32", fp32), ("int8", int8))}
        targets = np.asarray(ids[1:])
        for name, values in logits.items():
            nll[name] += float(-_log_softmax(values)[np.arange(len(targets)), targets].sum())
        agree += int((logits["fp32"].argmax(-1) == logits["int8"].argmax(-1)).sum())
        tokens += len(targets)
    ppl_fp32, ppl_int8 = math.exp(nll["fp32"] / tokens), math.exp(nll["int8"] / tokens)
    increase = ppl_int8 / ppl_fp32 - 1
    agreement = agree / tokens
    kept = increase <= gate.max_perplexity_increase and agreement >= gate.min_next_token_agreement
    verdict = "kept" if kept else "dropped"
    reason = (
        f"{verdict}: perplexity {ppl_int8:.4g} vs {ppl_fp32:.4g} fp32 ({increase:+.2%}, limit "
        f"{gate.max_perplexity_increase:+.2%}), next-token agreement {agreement:.4f} (min "
        f"{gate.min_next_token_agreement}) on {tokens} tokens"
    )
    return Int8Quality(kept, reason, tokens, ppl_fp32, ppl_int8, increase, agreement)


def _full_logits(session: CausalSession, ids: list[int]) -> np.ndarray[Any, Any]:
    """Logits predicting tokens 1.. of `ids` (one full-sequence pass, empty cache)."""
    mask = np.ones((1, len(ids)), np.int64)
    out = session.step(
        np.asarray([ids], np.int64), mask, position_ids(mask), session.empty_cache(1), keep_all_logits=True
    )
    assert out.all_logits is not None
    return np.asarray(out.all_logits[0, :-1], np.float64)


def _log_softmax(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    shifted = logits - logits.max(-1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(-1, keepdims=True)))


def greedy_parity(
    model: nn.Module,
    onnx_path: str | Path,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    eos_token_ids: Sequence[int] = (),
) -> CausalParity:
    """Greedy decoding with the ONNX graph (cache, ONNX Runtime) against PyTorch `generate`."""
    reference = copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()
    session = CausalSession(onnx_path)
    eos = list(eos_token_ids)
    max_diff, matching, generated = 0.0, 0, 0
    first_mismatch: dict[str, Any] | None = None
    for index, prompt in enumerate(prompts):
        ort_tokens, ort_logits = session.greedy(prompt, max_new_tokens, eos)
        with torch.no_grad():
            out = reference.generate(  # type: ignore[operator]
                input_ids=torch.tensor([list(prompt)], dtype=torch.int64),
                attention_mask=torch.ones((1, len(prompt)), dtype=torch.int64),
                do_sample=False,
                max_new_tokens=max_new_tokens,
                eos_token_id=eos or None,
                pad_token_id=eos[0] if eos else 0,
                output_logits=True,
                return_dict_in_generate=True,
            )
        torch_tokens = [int(t) for t in out.sequences[0, len(prompt) :]]
        for step, (ort_step, torch_step) in enumerate(zip(ort_logits, out.logits, strict=False)):
            if step < len(torch_tokens) and torch_tokens[: step + 1] == ort_tokens[: step + 1]:
                max_diff = max(max_diff, float(np.abs(ort_step - torch_step[0].numpy()).max()))
        generated += len(torch_tokens)
        if torch_tokens == ort_tokens:
            matching += 1
        elif first_mismatch is None:
            first_mismatch = {"prompt": index, "onnx": ort_tokens, "torch": torch_tokens}
    return CausalParity(
        matches=matching == len(prompts),
        prompts=len(prompts),
        matching_prompts=matching,
        max_logit_diff=max_diff,
        generated_tokens=generated,
        first_mismatch=first_mismatch,
    )


__all__ = [
    "CausalExport",
    "CausalLMWithCache",
    "CausalParity",
    "Int8Gate",
    "Int8Quality",
    "cache_geometry",
    "check_causal_signature",
    "export_causal_lm",
    "greedy_parity",
    "int8_quality",
]
