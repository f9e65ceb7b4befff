"""`foundry train`, `foundry models ls / show` and `foundry base-models import / ls`: clients of
the training service. `train` submits a job and follows `WatchJob` with a live progress bar
(the client resumes from the last event seen if the stream breaks)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from foundry.api.common.v1 import (
    example_pb2,
    job_pb2,
    listing_pb2,
    model_pb2,
    refs_pb2,
    task_pb2,
    training_spec_pb2,
)
from foundry.api.training.v1 import base_model_pb2
from foundry.api.training.v1 import job_pb2 as training_job_pb2
from foundry.api.training.v1 import training_service_pb2 as pb
from foundry.cli import model_views
from foundry.cli.ingest import parse_task
from foundry.client.training import TrainingClient
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.hashing import file_sha256
from foundry.runtime.settings import Settings

TERMINAL = {job_pb2.JOB_STATE_SUCCEEDED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_CANCELLED}


def state_name(state: int) -> str:
    return job_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()  # type: ignore[arg-type]


def task_name(task: int) -> str:
    return task_pb2.Task.Name(task).removeprefix("TASK_").lower()  # type: ignore[arg-type]


def split_ref(ref: str) -> tuple[str, str]:
    """`NAME` or `NAME@VERSION_ID`."""
    name, _, version_id = ref.partition("@")
    return name, version_id


# --- train ----------------------------------------------------------------------------------------------


def build_spec(
    *,
    dataset: str,
    base_model: str,
    task: str,
    name: str,
    epochs: int | None = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    lora: bool = False,
    chat_template: str = "",
    packing: bool = False,
    search_budget: float | None = None,
    spec_file: Path | None = None,
) -> training_spec_pb2.JobSpec:
    """A JobSpec from `spec_file` (YAML or JSON of JobSpec fields, if given), then the flags."""
    dataset_name, dataset_version = split_ref(dataset)
    base_name, base_version = split_ref(base_model)
    spec = load_spec_file(spec_file) if spec_file is not None else training_spec_pb2.JobSpec()
    spec.task = parse_task(task)
    spec.dataset.CopyFrom(refs_pb2.DatasetRef(name=dataset_name, version_id=dataset_version))
    if name:
        spec.model_name = name
    spec.base_model.imported.CopyFrom(refs_pb2.ModelRef(name=base_name, version_id=base_version))
    if epochs is not None:
        spec.epochs = epochs
    if max_steps is not None:
        spec.max_steps = max_steps
    if learning_rate is not None:
        spec.learning_rate = learning_rate
    if batch_size is not None:
        spec.batch_size = batch_size
    if lora:
        spec.method = training_spec_pb2.TRAINING_METHOD_LORA
    if chat_template:
        spec.causal_lm.chat_template_name = chat_template
    if packing:
        spec.causal_lm.packing = True
    if search_budget is not None:
        spec.search.budget = search_budget
    return spec


def load_spec_file(path: Path) -> training_spec_pb2.JobSpec:
    """The fields of `foundry.common.v1.JobSpec` from a YAML or JSON file."""
    spec = training_spec_pb2.JobSpec()
    try:
        json_format.ParseDict(yaml.safe_load(path.read_text("utf-8")) or {}, spec)
    except (OSError, yaml.YAMLError, json_format.ParseError) as exc:
        raise InvalidArgumentError(
            f"bad spec file {path}: {exc}", violations=[FieldViolation("--spec", str(exc))]
        ) from exc
    return spec


def submit(settings: Settings, spec: training_spec_pb2.JobSpec, request_id: str = "") -> training_job_pb2.Job:
    """Submit under `request_id` (default: a fresh UUID, so that the submit may be retried)."""
    with TrainingClient(settings) as client:
        return client.submit(spec, request_id)


def _describe(event: job_pb2.ProgressEvent) -> str:
    parts = [state_name(event.state)]
    if event.HasField("loss"):
        parts.append(f"loss {event.loss:.4f}")
    if event.HasField("learning_rate"):
        parts.append(f"lr {event.learning_rate:.2e}")
    if event.HasField("throughput_tokens_per_s"):
        parts.append(f"{event.throughput_tokens_per_s:,.0f} tok/s")
    return "  ".join(parts)


def _f1(event: job_pb2.ProgressEvent) -> str:
    for key in ("eval_f1", "entity_f1", "eval_macro_f1", "macro_f1"):
        if key in event.eval_metrics:
            return f"eval F1 {100 * event.eval_metrics[key]:.1f}"
    return ""


def follow(settings: Settings, console: Console, job_id: str) -> training_job_pb2.Job:
    """Follow the job's progress events with a progress bar until it finishes; return the job."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TextColumn("[cyan]{task.fields[f1]}"),
        TimeElapsedColumn(),
        console=console,
    )
    with TrainingClient(settings) as client, progress:
        bar = progress.add_task(job_id[:12], total=None, status="queued", f1="")
        for event in client.follow(job_id):
            update: dict[str, Any] = {"status": _describe(event)}
            if event.total_steps:
                update.update(total=event.total_steps, completed=event.step)
            if f1 := _f1(event):
                update["f1"] = f1
            progress.update(bar, **update)
            if event.kind == job_pb2.PROGRESS_EVENT_KIND_LOG and event.message:
                progress.console.print(f"[dim]{event.message}[/dim]")
        return client.job(job_id)


def job_summary(console: Console, job: training_job_pb2.Job) -> None:
    colour = {"succeeded": "green", "failed": "red"}.get(state_name(job.state), "yellow")
    console.print(f"job {job.job_id}: [{colour}]{state_name(job.state)}[/{colour}]")
    if job.error:
        console.print(f"  {job.error}")
    if job.trials:
        console.print(trials_table(job))
    if job.model_version_id:
        console.print(f"  model {job.model_name}@{job.model_version_id}")


def trials_table(job: training_job_pb2.Job) -> Table:
    """A search job's trials, then its final job."""
    spent, budget = job.search_spent_units, job.search_budget_units
    table = Table(title=f"recipe search: {spent:,} of {budget:,} examples x epochs")
    for column in (
        "#",
        "round",
        "lr",
        "epochs",
        "examples",
        "cost",
        "state",
        "objective (validation)",
        "job",
    ):
        table.add_column(column)
    succeeded = [t for t in job.trials if t.state == job_pb2.JOB_STATE_SUCCEEDED]
    best = max((t.objective_value for t in succeeded), default=None)
    for number, trial in enumerate(job.trials, 1):
        ok = trial.state == job_pb2.JOB_STATE_SUCCEEDED
        value = f"{trial.objective} {trial.objective_value:.4f}" if ok else "-"
        table.add_row(
            str(number),
            str(trial.rung),
            f"{trial.learning_rate:.0e}",
            str(trial.epochs),
            f"{trial.train_examples:,}",
            f"{trial.cost_units:,}",
            state_name(trial.state),
            f"[bold]{value}[/bold]" if ok and trial.objective_value == best else value,
            trial.job_id[:12],
        )
    if job.HasField("search_final"):
        final = job.search_final
        table.add_row(
            "final",
            str(final.rung),
            f"{final.learning_rate:.0e}",
            str(final.epochs),
            f"{final.train_examples:,}",
            f"{final.cost_units:,}",
            "",
            "(test F1 in the model version)",
            final.job_id[:12],
        )
    return table


# --- models ----------------------------------------------------------------------------------------------


def list_models(
    settings: Settings,
    name: str = "",
    include_rejected: bool = False,
    *,
    corrupt: list[listing_pb2.CorruptEntry] | None = None,
) -> list[model_pb2.ModelVersion]:
    with TrainingClient(settings) as client:
        return client.all_models(name, include_rejected, corrupt=corrupt)


def get_model(settings: Settings, ref: str) -> model_pb2.ModelVersion:
    with TrainingClient(settings) as client:
        return client.model_version(*split_ref(ref))


def _metric(version: model_pb2.ModelVersion, *keys: str) -> str:
    """The first of `keys` on the test split, else on the validation split, in points."""
    order = {example_pb2.SPLIT_TEST: 0, example_pb2.SPLIT_VALIDATION: 1}
    for split in sorted(version.metrics.splits, key=lambda s: order.get(s.split, 2)):
        for key in keys:
            if key in split.values:
                return f"{100 * split.values[key]:.1f}"
    return "-"


def models_table(versions: Sequence[model_pb2.ModelVersion]) -> Table:
    table = Table(title="model versions")
    for column in ("name", "version", "task", "status", "F1 (test)", "job", "created"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            v.name,
            v.version_id[:12],
            task_name(v.task),
            model_pb2.ModelStatus.Name(v.status).removeprefix("MODEL_STATUS_").lower(),
            _metric(v, "eval_f1", "entity_f1", "eval_macro_f1", "macro_f1"),
            v.job_id[:12],
            v.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M") if v.HasField("created_at") else "",
        )
    return table


def show_model(console: Console, version: model_pb2.ModelVersion, *, strict_per_label: bool = False) -> None:
    console.print(models_table([version]))
    console.print(f"labels: {', '.join(version.id_to_label)}")
    model_views.show_metrics(console, version, strict_per_label=strict_per_label)
    console.print(model_views.artifacts_table(version))


def dump_json(message: Any) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True)


# --- base models -----------------------------------------------------------------------------------------


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def import_base_model(
    settings: Settings, console: Console, folder: Path, name: str, source: str = ""
) -> pb.ImportBaseModelResponse:
    """Stream a Hugging Face model folder to ImportBaseModel (chunks of at most 1 MiB)."""
    if not folder.is_dir():
        raise InvalidArgumentError(
            f"no such folder: {folder}", violations=[FieldViolation("FOLDER", str(folder))]
        )
    files = _files(folder)
    header = pb.ImportBaseModelHeader(name=name, source=source or str(folder))
    for path in files:
        header.files.add(
            path=path.relative_to(folder).as_posix(), size_bytes=path.stat().st_size, sha256=file_sha256(path)
        )
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    )
    with TrainingClient(settings) as client, progress:
        bar = progress.add_task(f"uploading {len(files)} file(s)", total=sum(p.stat().st_size for p in files))
        return client.import_files(
            header,
            folder,
            files,
            on_bytes=lambda size: progress.update(bar, advance=size),
            on_sent=lambda: progress.update(bar, description=f"importing {name}"),
        )


def list_base_models(
    settings: Settings, name: str = "", *, corrupt: list[listing_pb2.CorruptEntry] | None = None
) -> list[base_model_pb2.BaseModel]:
    with TrainingClient(settings) as client:
        return client.all_base_models(name, corrupt=corrupt)


def base_models_table(models: Sequence[base_model_pb2.BaseModel]) -> Table:
    table = Table(title="base models")
    for column in ("name", "version", "type", "parameters", "tasks", "source"):
        table.add_column(column)
    for m in models:
        table.add_row(
            m.name,
            m.version_id[:12],
            m.model_type,
            f"{m.num_parameters:,}",
            ", ".join(task_name(t) for t in m.tasks),
            m.source,
        )
    return table
