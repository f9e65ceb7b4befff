"""Generation benchmark: ONNX Runtime with the key/value cache (the serving engine) against
PyTorch eager `generate` (with its own cache), at batch 1 and at 8 concurrent streams.

    python bench/generate.py            # a ~27M-parameter Llama-style model, 128 new tokens
    python bench/generate.py --quick    # a ~4M-parameter one, 48 new tokens, within 3 minutes on 2 cores

The model is built from a config (random weights, a byte-level BPE tokenizer trained on the
project's chat fixtures and WNUT-17 sentences) and exported with `export_causal_lm` (fp32, and
int8 with the quality gate). Every run generates exactly `--new-tokens` tokens (end of sequence
ignored, as in vLLM's benchmarks) greedily from real prompts.

- batch 1: one prompt. PyTorch: `generate(max_new_tokens=N, min_new_tokens=N)`; time to first
  token is a `generate` of one token. ONNX Runtime: `GenerationEngine.generate`, streamed; time to
  first token is the engine's (prompt queued → first token chosen).
- 8 streams: 8 prompts of different lengths at once. PyTorch: one left-padded batched
  `generate`; ONNX Runtime: 8 concurrent `generate` calls, batched by the engine (continuous
  batching), and the same with `max_batch_size=1` (served one after the other) to show what
  batching buys.

tokens/s = generated tokens / wall time (prompt included), summed over the streams. Each figure
is the best of `--repeats` runs after a warm-up. The last line is one JSON object with the
headline figures (batch 1: tokens_per_s_torch, tokens_per_s_ort, ort_speedup_vs_torch,
ttft_ms_ort; the 8-stream figures under keys ending in `_8`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, PreTrainedModel

from foundry.domain.causallm import CausalSession
from foundry.inference.generation import ChatTokenizer, GenerationEngine, GenerationRequest, SamplingParams
from foundry.training.export.causal import export_causal_lm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/helpers

from helpers.training_models import tiny_causal_lm

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "tests" / "fixtures" / "chat" / "wnut17_chat.jsonl"
WNUT17 = ROOT / "examples" / "data" / "wnut17" / "wnut17train.conll"

SIZES = {
    "full": {
        "hidden_size": 512,
        "num_hidden_layers": 8,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "intermediate_size": 1376,
        "vocab_size": 4000,
    },
    "quick": {
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 688,
        "vocab_size": 2000,
    },
}


def corpus() -> list[str]:
    rows = [json.loads(line) for line in CHAT.read_text("utf-8").splitlines()]
    texts = [m["content"] for row in rows for m in row["messages"]]
    sentence: list[str] = []
    for line in WNUT17.read_text("utf-8").splitlines():
        if line.strip():
            sentence.append(line.split("\t")[0])
        elif sentence:
            texts.append(" ".join(sentence))
            sentence = []
    return texts


def best(repeats: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Warm up once, then keep the run with the most tokens/s."""
    run()
    results = [run() for _ in range(repeats)]
    return max(results, key=lambda r: r["tokens_per_s"])


def torch_runs(
    model: PreTrainedModel, prompts: list[list[int]], new_tokens: int, pad: int
) -> dict[str, float]:
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])

    def generate(n: int) -> float:
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(  # type: ignore[operator]
                input_ids=ids,
                attention_mask=mask,
                do_sample=False,
                max_new_tokens=n,
                min_new_tokens=n,
                pad_token_id=pad,
            )
        assert out.shape[1] == width + n
        return time.perf_counter() - start

    ttft = generate(1)
    wall = generate(new_tokens)
    return {"tokens_per_s": len(prompts) * new_tokens / wall, "ttft_ms": ttft * 1000, "wall_s": wall}


def ort_runs(engine: GenerationEngine, prompts: list[str], new_tokens: int) -> dict[str, float]:
    params = SamplingParams(max_new_tokens=new_tokens, ignore_eos=True)

    async def one(prompt: str) -> float:
        ttft = 0.0
        count = 0
        async for piece in engine.generate(GenerationRequest(prompt=prompt, params=params)):
            count += len(piece.token_ids)
            if piece.usage is not None:
                ttft = piece.usage.time_to_first_token_ms
        assert count == new_tokens
        return ttft

    async def run_all() -> list[float]:
        return await asyncio.gather(*(one(p) for p in prompts))

    start = time.perf_counter()
    ttfts = LOOP.run_until_complete(run_all())
    wall = time.perf_counter() - start
    return {
        "tokens_per_s": len(prompts) * new_tokens / wall,
        "ttft_ms": statistics.mean(ttfts),
        "wall_s": wall,
    }


#: one event loop for every run: an engine schedules on the loop it first ran in
LOOP = asyncio.new_event_loop()


def engine_for(onnx_path: Path, folder: Path, threads: int, max_batch_size: int) -> GenerationEngine:
    return GenerationEngine(
        CausalSession(onnx_path, threads=threads),
        ChatTokenizer.from_folder(folder),
        max_batch_size=max_batch_size,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller model and fewer tokens (< 3 min on 2 cores)"
    )
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    new_tokens = args.new_tokens or (48 if args.quick else 128)
    repeats = args.repeats or (2 if args.quick else 3)
    threads = torch.get_num_threads()
    texts = corpus()
    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny_causal_lm(Path(tmp) / "hf", texts, arch="llama", max_position_embeddings=1024, **size)
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        params = sum(p.numel() for p in model.parameters())
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        quality = [tokenizer.encode(t).ids for t in texts[200:232]]
        start = time.perf_counter()
        export = export_causal_lm(model, folder / "onnx", quality_inputs=quality)
        export_s = time.perf_counter() - start
        prompts = [" ".join(texts[300 + 3 * i : 302 + 3 * i]) for i in range(8)]
        prompt_ids = [tokenizer.encode(p).ids for p in prompts]
        pad = int(tokenizer.token_to_id("<|endoftext|>"))
        rows: dict[str, dict[str, float]] = {}
        rows["batch 1 | PyTorch eager generate"] = best(
            repeats, lambda: torch_runs(model, prompt_ids[:1], new_tokens, pad)
        )
        fp32 = engine_for(export.fp32.path, folder, threads, 8)
        rows["batch 1 | ORT fp32 + cache"] = best(repeats, lambda: ort_runs(fp32, prompts[:1], new_tokens))
        if export.int8 is not None:
            int8 = engine_for(export.int8.path, folder, threads, 8)
            rows["batch 1 | ORT int8 + cache"] = best(
                repeats, lambda: ort_runs(int8, prompts[:1], new_tokens)
            )
        rows["8 streams | PyTorch batched generate"] = best(
            repeats, lambda: torch_runs(model, prompt_ids, new_tokens, pad)
        )
        rows["8 streams | ORT fp32, continuous batching"] = best(
            repeats, lambda: ort_runs(fp32, prompts, new_tokens)
        )
        serial = engine_for(export.fp32.path, folder, threads, 1)
        rows["8 streams | ORT fp32, one at a time"] = best(
            repeats, lambda: ort_runs(serial, prompts, new_tokens)
        )
    for engine in (fp32, serial, *([int8] if export.int8 is not None else [])):
        LOOP.run_until_complete(engine.close())
    print(
        f"model: Llama-style, {params / 1e6:.1f}M parameters ({size['num_hidden_layers']} layers, hidden "
        f"{size['hidden_size']}), vocab {tokenizer.get_vocab_size()}; prompts {min(map(len, prompt_ids))}-"
        f"{max(map(len, prompt_ids))} tokens; {new_tokens} new tokens per stream; {threads} threads; "
        f"export {export_s:.1f} s; int8: {export.int8_quality.reason}"
    )
    print(f"{'scenario':<46} {'tokens/s':>10} {'TTFT ms':>10} {'wall s':>8}")
    for name, row in rows.items():
        print(f"{name:<46} {row['tokens_per_s']:>10.1f} {row['ttft_ms']:>10.1f} {row['wall_s']:>8.2f}")
    b1_torch, b1_ort = rows["batch 1 | PyTorch eager generate"], rows["batch 1 | ORT fp32 + cache"]
    b8_torch, b8_ort = (
        rows["8 streams | PyTorch batched generate"],
        rows["8 streams | ORT fp32, continuous batching"],
    )
    b8_serial = rows["8 streams | ORT fp32, one at a time"]
    headline: dict[str, Any] = {
        "tokens_per_s_torch": round(b1_torch["tokens_per_s"], 1),
        "tokens_per_s_ort": round(b1_ort["tokens_per_s"], 1),
        "ort_speedup_vs_torch": round(b1_ort["tokens_per_s"] / b1_torch["tokens_per_s"], 2),
        "ttft_ms_ort": round(b1_ort["ttft_ms"], 1),
        "ttft_ms_torch": round(b1_torch["ttft_ms"], 1),
        "tokens_per_s_torch_8": round(b8_torch["tokens_per_s"], 1),
        "tokens_per_s_ort_8": round(b8_ort["tokens_per_s"], 1),
        "ort_speedup_vs_torch_8": round(b8_ort["tokens_per_s"] / b8_torch["tokens_per_s"], 2),
        "ttft_ms_ort_8": round(b8_ort["ttft_ms"], 1),
        "batching_speedup_8": round(b8_ort["tokens_per_s"] / b8_serial["tokens_per_s"], 2),
        "params_m": round(params / 1e6, 1),
        "new_tokens": new_tokens,
        "int8_kept": export.int8 is not None,
        "quick": args.quick,
        "cpu_count": os.cpu_count(),
    }
    sys.stdout.flush()
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
