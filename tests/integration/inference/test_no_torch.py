"""The inference service imports neither torch nor transformers: a fresh process builds the
service as `python -m foundry.inference` does, loads a model at start-up, serves Predict, and
then looks at `sys.modules`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from inference_models import Models

SCRIPT = """
import asyncio, json, sys
import grpc
from foundry.api.common.v1 import refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb, inference_service_pb2_grpc as pb_grpc
from foundry.inference.__main__ import build
from foundry.runtime.server import FoundryServer
from foundry.inference.settings import InferenceSettings

async def main():
    settings = InferenceSettings()
    server = FoundryServer(settings, build(settings))
    await server.start()  # loads the preloaded model before SERVING
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.InferenceServiceStub(channel)
        response = await stub.Predict(pb.PredictRequest(
            model=refs_pb2.ModelRef(name="tiny-ner"), inputs=[pb.PredictInput(text="alice lives in paris")]))
    await server.drain(0)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))
    print(json.dumps({"entities": [e.text for e in response.predictions[0].entities], "heavy": heavy}))

asyncio.run(main())
"""


def test_the_service_imports_no_torch_and_no_transformers(models: Models) -> None:
    s = models.settings
    env = {
        **os.environ,
        "FOUNDRY_S3_ENDPOINT": s.s3_endpoint or "",
        "FOUNDRY_S3_ACCESS_KEY": s.s3_access_key,
        "FOUNDRY_S3_SECRET_KEY": s.s3_secret_key.get_secret_value(),
        "FOUNDRY_S3_BUCKET": s.s3_bucket,
        "FOUNDRY_HOME_DIR": str(s.home_dir),
        "FOUNDRY_GRPC_PORT": "0",
        "FOUNDRY_METRICS_PORT": "0",
        "FOUNDRY_INFERENCE_PRELOAD_MODELS": "tiny-ner:int8",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["entities"]  # it really served the model
