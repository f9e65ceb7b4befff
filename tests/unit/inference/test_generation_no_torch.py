"""The generation path (engine, backend, convert) runs without torch or transformers loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from transformers import AutoModelForCausalLM

from foundry.training.export.causal import export_causal_lm
from helpers.training_models import tiny_causal_lm

SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from foundry.inference.generation import GenerationBackend, ModelKey, ModelSelector, collect
from foundry.inference.generation.convert import generate_request, generate_response
from foundry.api.inference.v1 import inference_service_pb2 as pb

async def main(folder):
    backend = GenerationBackend(max_batch_size=4)
    backend.add_folder(ModelKey("tiny", "v1", "fp32"), folder, folder / "onnx" / "model.onnx")
    selector, request = generate_request(pb.GenerateRequest(
        model={"name": "tiny"}, messages=[{"role": "user", "content": "List the named entities"}],
        config={"max_new_tokens": 6, "do_sample": True, "seed": 3}))
    pieces = [generate_response(p) async for p in backend.generate(selector, request)]
    await backend.close()
    return pieces

pieces = asyncio.run(main(Path(sys.argv[1])))
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers", "optimum"})
print(json.dumps({"heavy": heavy, "tokens": sum(len(p.token_ids) for p in pieces),
                  "model": pieces[0].model.name, "finish": pieces[-1].finish_reason}))
"""


def test_generation_runs_without_torch(tmp_path: Path) -> None:
    texts = ["List the named entities in this text", "location: Taiwan", "none"] * 5
    folder = tiny_causal_lm(tmp_path / "hf", texts, vocab_size=300)
    export_causal_lm(AutoModelForCausalLM.from_pretrained(folder), folder / "onnx", int8=False)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert 1 <= report["tokens"] <= 6 and report["model"] == "tiny" and report["finish"] != 0
