"""The training service process imports neither torch nor transformers (only its workers do): a
fresh process wires the service as `python -m foundry.training` does (settings, object store,
executor, core, servicer registered on a gRPC server) and then looks at `sys.modules`.

Nothing is contacted: the object store client connects lazily and the server is never started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, json, sys
import foundry.training.__main__ as main
from foundry.runtime.server import FoundryServer
from foundry.training.settings import TrainingSettings

async def wire():
    settings = TrainingSettings()
    definition = main.build(settings)
    server = FoundryServer(settings, definition)
    definition.register(server.server)
    return definition.grpc_services

services = asyncio.run(wire())
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers"})
wired = sorted(m for m in sys.modules if m.startswith("foundry.training."))
print(json.dumps({"heavy": heavy, "services": list(services), "wired": wired}))
"""


def test_the_training_service_imports_no_torch_and_no_transformers(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FOUNDRY_S3_ENDPOINT": "127.0.0.1:9",  # never contacted
        "FOUNDRY_HOME_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["services"] == ["foundry.training.v1.TrainingService"]
    assert {"foundry.training.core", "foundry.training.executor", "foundry.training.servicer"} <= set(
        report["wired"]
    )


def test_the_worker_is_what_imports_torch() -> None:
    """The check above can see torch: importing the worker module loads it."""
    script = "import sys, foundry.training.worker.run; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
