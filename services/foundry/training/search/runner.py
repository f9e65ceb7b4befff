"""`SearchRunner`: runs a search job (a spec with `search.budget`) in a thread of the training
service. Its trials and its final model are child jobs, submitted through the core (so through
the executor, like any job) under request ids derived from the parent's, so a search that is
run again after a restart finds the children it already started instead of starting them twice.

The parent's own event stream says what the search does: a log line per trial started, the
children's train and eval events relayed (the latest train event per poll), each trial's score,
the winner, then the final job's progress; it ends SUCCEEDED naming the final job's model
version. Its report (`search.report`) lists every trial. A trial's checkpoints are deleted once
it is scored (nothing reads them again).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from foundry.runtime import datasets
from foundry.runtime.objectstore import ObjectStore
from foundry.training import jobcheckpoints, jobstore
from foundry.training.jobstore import TERMINAL_STATES, EventKind, EventWriter, ProgressEvent
from foundry.training.loop.events import JobState
from foundry.training.search.halving import BudgetError, Schedule, Trial, budget_units
from foundry.training.search.report import SearchReport, TrialRecord, read_report, write_report
from foundry.training.search.space import Recipe, grid
from foundry.training.spec import JobSpec, MetricGoal, SearchOptions

log = logging.getLogger("foundry.training.search")

#: submit(request_id, spec) -> the child's job id
Submit = Callable[[str, JobSpec], str]
#: cancel(job_id, reason)
Cancel = Callable[[str, str], object]


class SearchCancelled(Exception):
    pass


class SearchStopped(Exception):
    """The service is shutting down: the search stops where it is (its next start resumes it)."""


def is_search(spec: JobSpec) -> bool:
    return spec.search.budget > 0 and not spec.search.trial


def trial_spec(spec: JobSpec, trial: Trial) -> JobSpec:
    """A trial's job: the recipe on the first `examples` training examples, scored on the eval
    split, nothing exported."""
    return replace(
        spec,
        learning_rate=trial.recipe.learning_rate,
        epochs=trial.recipe.epochs,
        max_train_examples=trial.examples,
        search=SearchOptions(trial=True),
    )


def final_spec(spec: JobSpec, recipe: Recipe) -> JobSpec:
    """The final model's job: the parent's spec with the winning recipe, no search."""
    return replace(spec, learning_rate=recipe.learning_rate, epochs=recipe.epochs, search=SearchOptions())


class SearchRunner:
    def __init__(
        self, store: ObjectStore, job_id: str, *, submit: Submit, cancel: Cancel, poll_interval_s: float
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.submit = submit
        self.cancel = cancel
        self.poll_interval_s = poll_interval_s
        self.seen: dict[str, int] = {}  # child job id -> last relayed seq
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"search-{job_id[:12]}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop following the children (they keep running) and end the thread."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=timeout_s)

    # --- the search -----------------------------------------------------------------------------

    def run(self) -> None:
        writer = EventWriter(self.store, self.job_id)
        if writer.current_state in TERMINAL_STATES:
            return
        try:
            if jobstore.cancel_requested(self.store, self.job_id):
                raise SearchCancelled()
            self._run(writer)
        except SearchStopped:
            log.info("search %s stopped with the service", self.job_id)
        except SearchCancelled:
            writer.state(JobState.CANCELLED, "search cancelled")
        except Exception as exc:
            log.exception("search %s failed", self.job_id)
            writer.state(JobState.FAILED, f"{type(exc).__name__}: {exc}")

    def _run(self, writer: EventWriter) -> None:
        record = jobstore.get_job(self.store, self.job_id)
        spec = record.spec
        resumed = writer.current_state is not JobState.QUEUED
        writer.state(JobState.RUNNING, "search started" + (" again (resuming)" if resumed else ""))
        dataset = datasets.get_manifest(self.store, spec.dataset.name, spec.dataset.version_id)
        examples = dataset.split_counts.get(spec.train_split.value, 0)
        if spec.max_train_examples:
            examples = min(examples, spec.max_train_examples)
        units = budget_units(spec.search.budget, examples, spec.epochs)
        recipes = grid(spec)
        try:
            schedule = Schedule(recipes, examples, units, maximize=spec.objective_goal is MetricGoal.MAXIMIZE)
        except BudgetError as exc:
            raise BudgetError(f"search.budget {spec.search.budget}: {exc}") from exc
        report = read_report(self.store, self.job_id) or SearchReport(spec.objective_metric, units)
        writer.log(
            f"search: {len(recipes)} recipes, {units:,} examples x epochs "
            f"({spec.search.budget:g} runs of {examples:,} examples x {spec.epochs} epochs)"
        )
        while not schedule.done:
            trials = schedule.next_round()
            writer.log(f"round {schedule.rung}: {len(trials)} trials on {trials[0].examples:,} examples")
            schedule.record(self._round(writer, spec, report, trials))
        best = schedule.final()
        writer.log(f"best recipe: {best.recipe.describe()}; training the final model")
        final_id = self.submit(
            f"{record.request_id or self.job_id}:search:final", final_spec(spec, best.recipe)
        )
        report.final_job_id, report.final_cost_units = final_id, best.cost
        report.final_learning_rate, report.final_epochs = best.recipe.learning_rate, best.recipe.epochs
        write_report(self.store, self.job_id, report)
        last = self._wait(writer, {final_id: "final model"})[final_id]
        if last.state != JobState.SUCCEEDED:
            raise RuntimeError(f"the final job {final_id} ended {last.state}: {last.message}")
        writer.state(
            JobState.SUCCEEDED,
            f"search done ({report.spent_units:,} of {units:,} examples x epochs): {last.message}",
            model_version_id=last.model_version_id,
        )

    def _round(
        self, writer: EventWriter, spec: JobSpec, report: SearchReport, trials: Sequence[Trial]
    ) -> list[float]:
        """Submit a round's trials (all at once: the executor runs as many as it has slots for),
        wait for them, and return their scores (NaN for a trial that did not succeed)."""
        names: dict[str, str] = {}
        base = jobstore.get_job(self.store, self.job_id).request_id or self.job_id
        for trial in trials:
            recipe = trial.recipe
            request = f"{base}:search:{trial.rung}:{recipe.learning_rate:g}:{recipe.epochs}"
            child = self.submit(request, trial_spec(spec, trial))
            entry = report.trial(child)
            if entry is None:
                entry = TrialRecord(
                    child, trial.rung, recipe.learning_rate, recipe.epochs, trial.examples, trial.cost
                )
                report.trials.append(entry)
                write_report(self.store, self.job_id, report)
            number = report.trials.index(entry) + 1
            names[child] = f"trial {number} ({recipe.describe()}, {trial.examples:,} examples)"
            writer.log(f"{names[child]}: job {child}")
        finals = self._wait(writer, names)
        scores = []
        for child, last in finals.items():
            value = (
                last.eval_metrics.get(report.objective, math.nan) if last.state == "succeeded" else math.nan
            )
            entry = report.trial(child)
            assert entry is not None
            entry.state, entry.objective_value = last.state, value
            jobcheckpoints.delete_checkpoints(self.store, child)  # only its score is needed
            scores.append(value)
            writer.log(
                f"{names[child]}: {last.state}, {report.objective} {value:.4f}",
                eval_metrics={report.objective: value} if math.isfinite(value) else {},
            )
        write_report(self.store, self.job_id, report)
        return scores

    # --- watching children ------------------------------------------------------------------------

    def _wait(self, writer: EventWriter, names: dict[str, str]) -> dict[str, ProgressEvent]:
        """Relay the children's events until every one has ended; their final events."""
        finals: dict[str, ProgressEvent] = {}
        while len(finals) < len(names):
            if jobstore.cancel_requested(self.store, self.job_id):
                for child in names:
                    if child not in finals:
                        self.cancel(child, "the search was cancelled")
                raise SearchCancelled()
            quiet = True
            for child, name in names.items():
                if child in finals:
                    continue
                events = jobstore.read_events(self.store, child, self.seen.get(child, 0))
                if not events:
                    continue
                quiet = False
                self.seen[child] = events[-1].seq
                self._relay(writer, name, events)
                ended = [e for e in events if e.state in TERMINAL_STATES and e.kind == EventKind.STATE]
                if ended:
                    finals[child] = ended[-1]
            if self._stop.is_set() or (quiet and self._stop.wait(self.poll_interval_s)):
                raise SearchStopped()
        return {child: finals[child] for child in names}

    def _relay(self, writer: EventWriter, name: str, events: Sequence[ProgressEvent]) -> None:
        trains = [e for e in events if e.kind == EventKind.TRAIN]
        for event in events:
            if event.kind == EventKind.EVAL or (trains and event is trains[-1]):
                writer.append(
                    event.kind,
                    step=event.step,
                    total_steps=event.total_steps,
                    epoch=event.epoch,
                    loss=event.loss,
                    learning_rate=event.learning_rate,
                    eval_metrics=dict(event.eval_metrics),
                    message=f"{name}: {event.message}" if event.message else name,
                )
