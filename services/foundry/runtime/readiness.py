"""Health that tells the truth: readiness follows the object store, liveness follows the process.

Every service reports two kinds of names through `grpc.health.v1`:

- readiness: the "" name and each of its gRPC service names. SERVING once the start-up work is
  done and as long as the object store answers; NOT_SERVING while it does not. An orchestrator
  routes no traffic to a service that is not ready (the Kubernetes readinessProbe asks "").
- liveness: the name `LIVENESS` ("liveness"), SERVING from the moment the port is bound until the
  drain. An object store outage does not touch it, so the livenessProbe (which asks this name)
  does not restart pods that would only come back to the same outage.

`ReadinessProbe` is the background task behind readiness: every `readiness_interval_s` it asks
the store whether the bucket exists (one HEAD, a minio client of its own with connect and read
timeouts of `readiness_timeout_s` and no retries, run in a thread and abandoned after that
timeout plus a second). A failed or late answer (or a missing bucket) sets readiness
NOT_SERVING; the next good answer sets it SERVING again, with no restart. Each change is logged
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from foundry.runtime.s3client import connect
from foundry.runtime.settings import Settings

log = logging.getLogger("foundry.readiness")

#: the health name that stays SERVING while the process runs (the livenessProbe's `service`)
LIVENESS = "liveness"
#: extra seconds a probe thread gets past its timeout before its answer is taken as a failure
THREAD_SLACK_S = 1.0

Check = Callable[[], bool]
SetReady = Callable[[bool], Awaitable[None]]


def bucket_check(settings: Settings) -> Check:
    """A check that is True when the settings' bucket exists (one HEAD with short timeouts)."""
    probe_settings = settings.model_copy(
        update={"s3_timeout_s": settings.readiness_timeout_s, "s3_max_retries": 0}
    )
    client, _ = connect(probe_settings)
    bucket = settings.s3_bucket
    return lambda: bool(client.bucket_exists(bucket))


class ReadinessProbe:
    """Runs `check` every `interval_s` and reports each change of its answer to `set_ready`."""

    def __init__(self, check: Check, set_ready: SetReady, *, interval_s: float, timeout_s: float) -> None:
        self._check = check
        self._set_ready = set_ready
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        #: the last answer (None before the first)
        self.ready: bool | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, ready: bool = True) -> None:
        """Start probing; `ready` is what readiness says now."""
        self.ready = ready
        self._task = asyncio.create_task(self._run(), name="readiness-probe")

    async def stop(self) -> None:
        """Stop probing (before a drain, so that nothing sets SERVING again)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def probe_once(self) -> bool:
        """One check, bounded in time; reports a change; returns the answer."""
        problem = ""
        try:
            ok = await asyncio.wait_for(asyncio.to_thread(self._check), self.timeout_s + THREAD_SLACK_S)
            if not ok:
                problem = "the bucket does not exist"
        except TimeoutError:
            ok, problem = False, f"no answer within {self.timeout_s + THREAD_SLACK_S:g} s"
        except Exception as exc:  # any failure to reach the store means not ready
            ok, problem = False, f"{type(exc).__name__}: {str(exc)[:300]}"
        if ok != self.ready:
            if ok:
                log.info("object store reachable again: ready")
            else:
                log.warning("object store unreachable: not ready", extra={"error": problem})
            self.ready = ok
            await self._set_ready(ok)
        return ok

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.probe_once()


__all__ = ["LIVENESS", "ReadinessProbe", "bucket_check"]
