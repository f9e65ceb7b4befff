"""Upload clients killed mid-stream (a real subprocess, SIGKILL): used by
tests/integration/ingestion/test_upload_completeness.py and bench/hardening.py."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb

SERVICES = Path(__file__).resolve().parents[2] / "services"
WAIT_S = 30.0  # the most a launcher's answer is waited for

#: a client launcher: it imports the typed client once, then for each line "STALL" on stdin forks a
#: client process and prints its pid. The client streams a header that declares no size and no
#: sha256 (0 = unknown) and the file's chunks, and stalls after STALL chunks until it is killed:
#: its commit is never sent. The launcher reaps each client and prints "PID STATUS".
CLIENTS = """
import os, sys, threading
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.client.ingestion import IngestionClient
from foundry.runtime.settings import Settings

address, header_bytes, path, chunk = sys.argv[1:5]
header = pb.UploadHeader.FromString(bytes.fromhex(header_bytes))


def requests(stall):
    yield pb.UploadRequest(header=header)
    with open(path, "rb") as f:
        for i, data in enumerate(iter(lambda: f.read(int(chunk)), b"")):
            if i == stall:
                threading.Event().wait()
            yield pb.UploadRequest(chunk=data)
    yield pb.UploadRequest(commit=pb.UploadCommit())


for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        with IngestionClient(Settings(), address=address) as client:
            client.upload(requests(int(line)))
        os._exit(0)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(pid, status, flush=True)
"""


class Clients:
    """The client launcher's process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, address: str, header: pb.UploadHeader, path: Path, chunk: int) -> Clients:
        """A launcher for clients that upload `path` in `chunk`-byte chunks after `header` to the
        ingestion service at `address`."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLIENTS,
            address,
            header.SerializeToString().hex(),
            str(path),
            str(chunk),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(SERVICES)},
        )
        return cls(process)

    async def line(self) -> list[int]:
        assert self.process.stdout is not None
        return [
            int(word) for word in (await asyncio.wait_for(self.process.stdout.readline(), WAIT_S)).split()
        ]

    async def client(self, stall: int) -> int:
        """Start a client that stalls after `stall` chunks; its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{stall}\n".encode())
        await self.process.stdin.drain()
        (pid,) = await self.line()
        return pid

    async def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        assert await self.line() == [pid, signal.SIGKILL]  # the launcher reaped it: killed by SIGKILL

    async def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert await self.process.wait() == 0


__all__ = ["CLIENTS", "Clients"]
