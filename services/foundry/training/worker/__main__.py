"""The training worker: runs one job from the object store to a model version.

`python -m foundry.training.worker --job-id ID [--work-dir DIR] [--cancel-poll-s S]` reads
`Settings` from `FOUNDRY_*`, runs the job (`run.run_job`) and exits 0 on succeeded or cancelled, 1
on failed; a Kubernetes Job runs the same command, under torchrun for DDP.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training.loop.events import JobState
from foundry.training.worker.options import CANCEL_POLL_S, WorkerOptions
from foundry.training.worker.run import run_job

log = logging.getLogger("foundry.training.worker")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m foundry.training.worker --job-id ID [--work-dir DIR]`: 0 succeeded or cancelled, 1 failed."""
    parser = argparse.ArgumentParser(
        prog="python -m foundry.training.worker", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--job-id", required=True)
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="local scratch (default: <home>/work/<job>)"
    )
    parser.add_argument("--cancel-poll-s", type=float, default=CANCEL_POLL_S)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    store = ObjectStore.from_settings(settings)
    work_dir = args.work_dir or settings.home_dir / "work" / args.job_id
    try:
        state = run_job(
            store, settings, args.job_id, work_dir, WorkerOptions(cancel_poll_s=args.cancel_poll_s)
        )
    except Exception:  # the job record could not even be read
        log.exception("job %s could not run", args.job_id)
        return 1
    log.info("job %s ended %s", args.job_id, state.value)
    return 0 if state in (JobState.SUCCEEDED, JobState.CANCELLED) else 1


if __name__ == "__main__":
    sys.exit(main())
