"""A recipe search end to end: `foundry train --search` against a real training service with the
`LocalExecutor` and the real S3 server; a tiny model on a tiny dataset. The search job's trials
are child jobs with their own events, the parent's stream relays them with each trial's score,
the final job produces a normal model version, and the CLI prints the trial table. With trials
held in a queue: a restarted service resumes a search, and cancelling a search cancels its trials."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from typer.testing import CliRunner

from foundry.api.common.v1 import job_pb2, refs_pb2
from foundry.api.training.v1 import training_service_pb2 as pb
from foundry.api.training.v1 import training_service_pb2_grpc as pb_grpc
from foundry.cli.main import app
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.examples import Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training.jobstore import read_events
from helpers.training_models import tiny_bert, vocab_from_texts
from integration.training.test_training_service import (
    EXAMPLES,
    TEXTS,
    HeldExecutor,
    import_model,
    spec_pb,
    start,
    stop_workers,
)


@pytest.mark.timeout(900)  # three worker processes one after the other, on a shared machine
@pytest.mark.usefixtures("wide_console")
async def test_a_search_runs_trials_as_child_jobs_then_the_final_model(
    settings: Settings, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = write_dataset_version(
        store, "ner-search", Task.TOKEN_CLASSIFICATION, EXAMPLES, label_set=["LOC", "PER"]
    )
    folder = tiny_bert(settings.home_dir / "tiny-search", vocab_from_texts(TEXTS))
    server, local = await start(settings, None)
    monkeypatch.setenv("FOUNDRY_TRAINING_ADDRESS", f"127.0.0.1:{server.port}")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.TrainingServiceStub(channel)
            await import_model(stub, folder)
            # a budget too small for the final model and a round of trials is refused up front
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                too_small = spec_pb(dataset, epochs=2)
                too_small.search.budget = 1.5
                await stub.SubmitJob(pb.SubmitJobRequest(spec=too_small))
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

            # a small grid from a spec file (2 recipes: one round of 2 trials, then the final job;
            # the rounds of a larger grid are the unit tests' part)
            grid = settings.home_dir / "grid.yaml"
            grid.write_text("search:\n  learning_rates: [2e-3, 1e-2]\n  epochs: [1]\n")
            args = ["train", "--dataset", dataset.name, "--base-model", "tiny-bert", "--name", "searched"]
            args += ["--spec", str(grid), "--epochs", "1", "--batch-size", "8", "--search", "3"]
            result = await asyncio.to_thread(CliRunner().invoke, app, args)
            out = " ".join(result.output.split())
            assert result.exit_code == 0, (out[-3000:], result.exception)
            assert "recipe search:" in out and "final" in out and "searched@" in out

            listed = await stub.ListJobs(pb.ListJobsRequest(model_name="searched"))
            parent = next(j for j in listed.jobs if j.spec.search.budget == 3)
            assert parent.state == job_pb2.JOB_STATE_SUCCEEDED, parent.error
            assert [(t.rung, t.learning_rate, t.epochs) for t in parent.trials] == [
                (0, 2e-3, 1),
                (0, 1e-2, 1),
            ]
            assert list(parent.child_job_ids) == [t.job_id for t in parent.trials] + [
                parent.search_final.job_id
            ]
            assert 0 < parent.search_spent_units <= parent.search_budget_units == 3 * 32 * 1
            assert all(
                t.state == job_pb2.JOB_STATE_SUCCEEDED and t.objective == "eval_f1" for t in parent.trials
            )
            last_round = [t for t in parent.trials if t.rung == 0]
            winner = max(last_round, key=lambda t: t.objective_value)
            assert (parent.search_final.learning_rate, parent.search_final.epochs) == (
                winner.learning_rate,
                winner.epochs,
            )

            # every trial is a job with its own events, scored on the validation split
            trial = (await stub.GetJob(pb.GetJobRequest(job_id=parent.trials[0].job_id))).job
            assert (
                trial.spec.search.trial and trial.spec.max_train_examples == parent.trials[0].train_examples
            )
            assert not trial.model_version_id
            events = [
                r.event async for r in stub.WatchJob(pb.WatchJobRequest(job_id=trial.job_id), timeout=60)
            ]
            assert {job_pb2.PROGRESS_EVENT_KIND_TRAIN, job_pb2.PROGRESS_EVENT_KIND_EVAL} <= {
                e.kind for e in events
            }
            assert "eval_f1" in events[-1].eval_metrics

            # the parent's stream relays the trials' progress and scores
            relayed = [
                r.event async for r in stub.WatchJob(pb.WatchJobRequest(job_id=parent.job_id), timeout=60)
            ]
            assert any(
                e.kind == job_pb2.PROGRESS_EVENT_KIND_TRAIN and "trial 1 " in e.message for e in relayed
            )
            scored = [
                e
                for e in relayed
                if e.kind == job_pb2.PROGRESS_EVENT_KIND_LOG and "eval_f1" in e.eval_metrics
            ]
            assert len(scored) == len(parent.trials)

            # the final job is a normal job with a normal model version, evaluated on test
            model = (
                await stub.GetModel(pb.GetModelRequest(model=refs_pb2.ModelRef(name="searched")))
            ).model_version
            assert model.version_id == parent.model_version_id and model.job_id == parent.search_final.job_id
            assert model.spec.learning_rate == pytest.approx(winner.learning_rate)
            assert not model.spec.search.budget
            assert any(s.split for s in model.metrics.splits)
            versions = await stub.ListModels(pb.ListModelsRequest(include_rejected=True))
            assert [m.version_id for m in versions.model_versions] == [
                model.version_id
            ]  # trials publish none
    finally:
        await server.drain(0)
        stop_workers(local)


async def _trials(stub: Any, job_id: str, count: int) -> Any:
    """The search job once its report lists `count` trials."""
    for _ in range(600):
        job = (await stub.GetJob(pb.GetJobRequest(job_id=job_id))).job
        if len(job.trials) >= count:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"the search {job_id} never listed {count} trials")


async def test_a_search_resumes_after_a_restart_and_cancels_its_trials(
    settings: Settings, store: ObjectStore
) -> None:
    """Trials held in a queue (never started): the search lists them, a restarted service resumes
    the search without starting them twice, and cancelling the search cancels them."""
    dataset = write_dataset_version(
        store, "ner-held", Task.TOKEN_CLASSIFICATION, EXAMPLES, label_set=["LOC", "PER"]
    )
    folder = tiny_bert(settings.home_dir / "tiny-held", vocab_from_texts(TEXTS))
    spec = spec_pb(dataset, epochs=1)
    spec.search.budget = 3
    spec.search.learning_rates.extend([2e-3, 1e-2])
    spec.search.epochs.append(1)  # a grid of 2 recipes
    first_held = HeldExecutor()
    server, _ = await start(settings, first_held)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.TrainingServiceStub(channel)
            await import_model(stub, folder)
            job = (await stub.SubmitJob(pb.SubmitJobRequest(request_id="held-search", spec=spec))).job
            assert job.job_id not in first_held.submitted  # the service runs the search itself
            listed = await _trials(stub, job.job_id, 2)
            assert first_held.submitted == [t.job_id for t in listed.trials]
            assert listed.state == job_pb2.JOB_STATE_RUNNING
            assert all(t.state == job_pb2.JOB_STATE_QUEUED for t in listed.trials)
    finally:
        await server.drain(0)

    second_held = HeldExecutor()
    server, _ = await start(settings, second_held)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.TrainingServiceStub(channel)
            for _ in range(600):  # the resumed search says so
                if any("resuming" in e.message for e in read_events(store, job.job_id)):
                    break
                await asyncio.sleep(0.1)
            resumed = await _trials(stub, job.job_id, 2)
            assert [t.job_id for t in resumed.trials] == [t.job_id for t in listed.trials]
            assert second_held.submitted == []  # the same children, not new ones
            cancelled = await stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id, reason="enough"))
            assert cancelled.job.state in (job_pb2.JOB_STATE_CANCELLING, job_pb2.JOB_STATE_CANCELLED)
            async for _ in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=120):
                pass
            done = (await stub.GetJob(pb.GetJobRequest(job_id=job.job_id))).job
            assert done.state == job_pb2.JOB_STATE_CANCELLED
            for trial in done.trials:
                child = (await stub.GetJob(pb.GetJobRequest(job_id=trial.job_id))).job
                assert child.state == job_pb2.JOB_STATE_CANCELLED
            assert sorted(second_held.cancelled) == sorted(t.job_id for t in done.trials)
    finally:
        await server.drain(0)
