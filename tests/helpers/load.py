"""A bounded load driver for loopback gRPC services (issue 15, item 10; bench/hardening.py can
call it to report `predict_c64_errors` and Predict throughput with and without TLS).

`hold_concurrency` keeps exactly `concurrency` calls in flight for `duration_s` seconds: each of
`concurrency` workers sends its next call as soon as its last one answers, so the load is
closed-loop (bounded by the server's speed, never an unbounded backlog). It counts calls, errors
by status code and throughput, and samples a process's resident memory (RSS, from /proc) after
the warm-up and at the end, to check that memory stays flat under sustained load.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of process `pid` (this one by default), from /proc/<pid>/status."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc status")


@dataclass
class LoadReport:
    concurrency: int
    duration_s: float
    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    #: RSS after the warm-up and at the end of the measured period (bytes; 0 when not sampled)
    rss_after_warmup: int = 0
    rss_at_end: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput_per_s(self) -> float:
        return self.calls / self.duration_s if self.duration_s else 0.0

    @property
    def rss_growth(self) -> int:
        return self.rss_at_end - self.rss_after_warmup

    def as_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "duration_s": round(self.duration_s, 3),
            "calls": self.calls,
            "errors": self.error_count,
            "error_codes": dict(self.errors),
            "throughput_per_s": round(self.throughput_per_s, 1),
            "rss_after_warmup_mb": round(self.rss_after_warmup / 2**20, 1),
            "rss_at_end_mb": round(self.rss_at_end / 2**20, 1),
        }


async def hold_concurrency(
    call: Callable[[], Awaitable[Any]],
    *,
    concurrency: int = 64,
    duration_s: float = 30.0,
    warmup_s: float = 2.0,
    rss_pid: int | None = None,
) -> LoadReport:
    """Keep `concurrency` calls of `call()` in flight: `warmup_s` uncounted, then `duration_s`
    counted. Errors are counted by status code (any other exception by its class name), never
    raised. `rss_pid`: the process whose RSS is sampled (None: this one)."""
    report = LoadReport(concurrency, duration_s)
    measuring = False
    stop_at = time.monotonic() + warmup_s + duration_s

    async def worker() -> None:
        while time.monotonic() < stop_at:
            try:
                await call()
            except grpc.aio.AioRpcError as err:
                if measuring:
                    report.errors[err.code().name] += 1
                continue
            except Exception as exc:
                if measuring:
                    report.errors[type(exc).__name__] += 1
                continue
            if measuring:
                report.calls += 1

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup_s)
    report.rss_after_warmup = rss_bytes(rss_pid)
    measuring = True
    started = time.monotonic()
    await asyncio.gather(*workers)
    report.duration_s = time.monotonic() - started
    report.rss_at_end = rss_bytes(rss_pid)
    return report


__all__ = ["LoadReport", "hold_concurrency", "rss_bytes"]
