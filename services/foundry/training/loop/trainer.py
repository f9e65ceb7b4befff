"""The training loop: `train(spec, model, train, eval, ...) -> TrainResult`.

One optimizer step takes an accumulation window of `gradient_accumulation_steps` micro-batches
of this rank's length-grouped batch plan (`data.batching.train_batches`, seeded by the spec's
seed and the epoch, sharded by rank), dynamically padded (`data.collate.Collator`). The loss of
the window is its loss sum over the run's divisor, the label tokens of an average step over all
ranks, so every token weighs the same under length grouping (`loop.loss`), then: unscale (fp16),
clip the gradient norm (`max_grad_norm`, 0 disables), AdamW, the schedule (`loop.optim`); the
step itself is `loop.step`.

After each step, in this order:

1. report the step (every `log_every_steps`) and record it in the history;
2. evaluate when due: every `eval_every_steps`, at the end of each epoch, and after the last
   step; judge it by the objective (`loop.selection`): best so far, early-stopping count;
3. checkpoint when due (`loop.checkpoints`): every `checkpoint_every_steps` (0: at every
   evaluation), whenever the evaluation is the best so far (the best checkpoint must hold its
   weights), and at the end; then prune to the newest `keep_checkpoints` (at least 1, the resume
   point) plus the best;
4. stop on early stopping or when the planned steps are done.

Before each step `should_stop()` is asked (on every rank; one rank saying yes stops them all): the
loop then writes a checkpoint and returns CANCELLED.

Exact resume (`loop.resume`): `resume_from` restores the weights, optimizer, scheduler, scaler,
RNG states and the position in the epoch's batch order; since the batch plan is a pure function of
the seed and the epoch, training continues with the next batch, and an interrupted-and-resumed run
ends with the same weights as an uninterrupted one. The model must be built as the interrupted run built it
(same base, seed, freezing, LoRA): a checkpoint stores only what training changes.

The model is trained in place. `LoopOptions.load_best_at_end` loads the best checkpoint's
weights into it before returning; otherwise it holds the final weights, and
`checkpoints.load_weights(model, result.best_checkpoint)` gets the best.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch import nn

from foundry.runtime.examples import Task
from foundry.training.data.batching import train_batches
from foundry.training.data.collate import Collator
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import LabelMap
from foundry.training.data.tokenizer import TokenizerInfo
from foundry.training.loop import checkpoints
from foundry.training.loop.distributed import DistContext
from foundry.training.loop.evaluate import Evaluation, evaluate
from foundry.training.loop.events import (
    CheckpointEvent,
    CheckpointReason,
    EvalEvent,
    EventSink,
    JobState,
    NullSink,
    StateEvent,
    StopReason,
)
from foundry.training.loop.loss import step_divisor
from foundry.training.loop.optim import build_optimizer, build_scheduler
from foundry.training.loop.precision import resolve_precision
from foundry.training.loop.results import EvalRecord, TrainResult
from foundry.training.loop.resume import restore, training_state
from foundry.training.loop.selection import Objective
from foundry.training.loop.setup import LoopOptions, check_inputs, seed_everything
from foundry.training.loop.state import LoopState, plan_fingerprint, plan_steps
from foundry.training.loop.step import StepMeter, optimizer_step, to_device
from foundry.training.spec import JobSpec


def train(
    spec: JobSpec,
    model: nn.Module,
    train: EncodedSplit,
    eval: EncodedSplit | None,
    tokenizer_info: TokenizerInfo,
    label_map: LabelMap,
    *,
    sink: EventSink,
    checkpoint_dir: str | Path,
    resume_from: str | Path | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    options: LoopOptions | None = None,
) -> TrainResult:
    """Train `model` on `train` as `spec` says, reporting to `sink` (see the module docstring)."""
    opts = options or LoopOptions()
    dist = opts.dist or DistContext.from_env()
    try:
        loop = _Loop(
            spec, model, train, eval, tokenizer_info, label_map, sink, Path(checkpoint_dir), opts, dist
        )
        return loop.run(Path(resume_from) if resume_from is not None else None, should_stop)
    finally:
        if opts.dist is None:
            dist.shutdown()


class _Loop:
    """One training run's state and machinery."""

    def __init__(
        self,
        spec: JobSpec,
        model: nn.Module,
        train: EncodedSplit,
        eval: EncodedSplit | None,
        tokenizer_info: TokenizerInfo,
        label_map: LabelMap,
        sink: EventSink,
        root: Path,
        options: LoopOptions,
        dist: DistContext,
    ) -> None:
        check_inputs(spec, model, train, eval, label_map, options)
        self.spec, self.train_split, self.eval_split, self.label_map = spec, train, eval, label_map
        self.sink: EventSink = sink if dist.is_main else NullSink()
        self.root, self.options, self.dist = root, options, dist
        self.policy = resolve_precision(spec.precision, dist.device)
        pad = options.pad_to_multiple_of or (8 if dist.device.type == "cuda" else None)
        packing = spec.task is Task.CHAT and spec.causal_lm.packing
        self.collator = Collator(
            train,
            tokenizer_info,
            pad_to_multiple_of=pad,
            pack_length=spec.sequence_length if packing else None,
        )
        self.eval_collator = Collator(eval, tokenizer_info, pad_to_multiple_of=pad) if eval else None
        micro = len(self._batches(0))
        self.plan = plan_steps(spec, micro)
        self.divisor = step_divisor(train, self.plan.steps_per_epoch)
        self.fingerprint = plan_fingerprint(spec, self.plan, dist.world_size, train.num_rows)
        self.objective = Objective.of(spec)
        self.model = model.to(dist.device)
        self.optimizer = build_optimizer(model, spec.peak_learning_rate, spec.weight_decay)
        self.scheduler = build_scheduler(
            self.optimizer, spec.lr_scheduler, self.plan.warmup_steps, self.plan.total_steps
        )
        self.scaler = self.policy.make_scaler()
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.state = LoopState()
        self.last_checkpoint: Path | None = None
        self.last_checkpoint_step = -1
        self.ddp_model: nn.Module = model
        self.meter = StepMeter()

    # --- the run ------------------------------------------------------------------------------------

    def run(self, resume_from: Path | None, should_stop: Callable[[], bool]) -> TrainResult:
        if resume_from is not None:
            self._restore(resume_from)
            message = f"resumed from {resume_from.name} at step {self.state.step}"
        else:
            seed_everything(self.spec.seed)
            message = f"training started: {self.plan.total_steps} steps"
        self.ddp_model = self.dist.wrap(self.model)
        self.model.train()
        self._state_event(JobState.RUNNING, f"{message}; {self.policy.describe()}")
        if self.eval_split is None and self.spec.early_stopping.patience:
            self.sink.on_log("early stopping is off: the job has no evaluation split")
        while self.state.stop_reason is None:
            batches = self._batches(self.state.epoch)
            while self.state.stop_reason is None:
                if self.dist.any_rank(bool(should_stop())):
                    return self._cancel()
                start = self.state.position
                window = batches[start : start + self.spec.gradient_accumulation_steps]
                self._step(window)
                self.state.position += len(window)
                epoch_end = self.state.position >= len(batches)
                if epoch_end:
                    self.state.epoch, self.state.position = self.state.epoch + 1, 0
                self._after_step(epoch_end)
                if epoch_end:
                    break
        return self._finish()

    def _batches(self, epoch: int) -> list[np.ndarray]:
        return train_batches(
            self.train_split.lengths,
            self.spec.batch_size,
            seed=self.spec.seed,
            epoch=epoch,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            group_by_length=self.spec.group_by_length,
        )

    # --- one optimizer step ---------------------------------------------------------------------------

    def _step(self, window: list[np.ndarray]) -> None:
        started = time.perf_counter()
        micro = [to_device(self.collator(rows), self.dist.device) for rows in window]
        done = optimizer_step(
            self.ddp_model,
            micro,
            spec=self.spec,
            policy=self.policy,
            dist=self.dist,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=self.scaler,
            params=self.params,
            divisor=self.divisor,
        )
        self.state.skipped_steps += int(done.skipped)
        loss_sum, label_tokens, tokens, samples = done.loss_sum, done.label_tokens, done.tokens, done.samples
        seconds = time.perf_counter() - started
        self.state.step += 1
        self.state.train_tokens += int(tokens)
        self.state.train_samples += int(samples)
        self.state.train_seconds += seconds
        loss = loss_sum / max(label_tokens, 1.0)
        epoch = self.state.epoch_progress(self.plan.micro_batches_per_epoch) + len(window) / max(
            1, self.plan.micro_batches_per_epoch
        )
        learning_rate, norm = done.learning_rate, done.grad_norm
        self.state.history.add_step(self.state.step, epoch, loss, learning_rate, norm, tokens / seconds)
        self.meter.add(done, seconds)
        if (
            self.state.step % max(1, self.options.log_every_steps) == 0
            or self.state.step == self.plan.total_steps
        ):
            self.sink.on_step(
                self.meter.event(self.state.step, self.plan.total_steps, epoch, learning_rate, norm)
            )

    # --- after a step: evaluation, selection, checkpoints ----------------------------------------------

    def _after_step(self, epoch_end: bool) -> None:
        """Evaluate and checkpoint as due; decide whether to stop (`state.stop_reason`)."""
        step, every = self.state.step, self.spec.eval_every_steps
        last = step >= self.plan.total_steps
        evaluated = is_best = False
        if self.eval_split is not None and ((every and step % every == 0) or epoch_end or last):
            evaluation = self._evaluate()
            judgement = self.objective.judge(evaluation.metrics, self.state)
            self.state.bad_evaluations = judgement.bad_evaluations
            is_best, evaluated = judgement.is_best, True
            if judgement.stop:
                self.state.stop_reason, self.state.stop_message = (
                    StopReason.EARLY_STOPPING,
                    judgement.stop_message,
                )
            if is_best:
                self.state.best_value, self.state.best_step = judgement.value, step
                self.state.best_metrics, self.state.best_details = evaluation.metrics, evaluation.details
                self.state.best_checkpoint = checkpoints.checkpoint_name(step)
            self._eval_event(evaluation, judgement.value, is_best)
        every_ckpt = self.spec.checkpoint_every_steps
        reasons = [
            (is_best, CheckpointReason.BEST),
            (bool(every_ckpt) and step % every_ckpt == 0, CheckpointReason.INTERVAL),
            (not every_ckpt and evaluated, CheckpointReason.EVALUATION),
            (last or self.state.stop_reason is not None, CheckpointReason.FINAL),
        ]
        if last and self.state.stop_reason is None:
            epochs = self.state.epoch_progress(self.plan.micro_batches_per_epoch)
            self.state.stop_reason = StopReason.COMPLETED
            self.state.stop_message = f"training completed: {step} steps, {epochs:.2f} epochs"
        due = [reason for ok, reason in reasons if ok]
        if due:
            self._checkpoint(due[0], is_best)

    def _evaluate(self) -> Evaluation:
        assert self.eval_split is not None and self.eval_collator is not None
        evaluation = evaluate(
            self.ddp_model,
            self.eval_split,
            self.eval_collator,
            self.label_map,
            policy=self.policy,
            dist=self.dist,
            batch_size=self.options.eval_batch_size or 2 * self.spec.batch_size,
            multilabel_threshold=self.spec.multilabel_threshold,
            exact_match_max_tokens=self.spec.causal_lm.exact_match_max_tokens,
        )
        self.state.last_metrics, self.state.last_details = evaluation.metrics, evaluation.details
        self.state.last_eval_step = self.state.step
        epoch = self.state.epoch_progress(self.plan.micro_batches_per_epoch)
        self.state.history.evals.append(EvalRecord(self.state.step, epoch, dict(evaluation.metrics)))
        return evaluation

    def _checkpoint(self, reason: CheckpointReason, is_best: bool) -> None:
        step = self.state.step
        training = training_state(self.fingerprint, self.state, self.optimizer, self.scheduler, self.scaler)
        epoch = self.state.epoch_progress(self.plan.micro_batches_per_epoch)
        info = {
            "epoch": epoch,
            "reason": reason.value,
            "is_best": is_best,
            "metrics": self.state.last_metrics if self.state.last_eval_step == step else None,
        }
        path = checkpoints.write_checkpoint(
            self.root, step, model=self.model, training_state=training, info=info, dist=self.dist
        )
        self.last_checkpoint, self.last_checkpoint_step = path, step
        self.sink.on_checkpoint(CheckpointEvent(step, epoch, path, reason, is_best))
        if self.dist.is_main:
            best = [self.root / self.state.best_checkpoint] if self.state.best_checkpoint else []
            for removed in checkpoints.prune(self.root, max(1, self.spec.keep_checkpoints), best):
                self.sink.on_checkpoint_removed(removed)
        self.dist.barrier()

    # --- resume, cancel, finish -------------------------------------------------------------------------

    def _restore(self, folder: Path) -> None:
        self.state = restore(
            folder,
            fingerprint=self.fingerprint,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=self.scaler,
            rank=self.dist.rank,
        )
        self.last_checkpoint, self.last_checkpoint_step = folder, self.state.step

    def _cancel(self) -> TrainResult:
        if self.last_checkpoint_step != self.state.step:
            self._checkpoint(CheckpointReason.CANCEL, is_best=False)
        message = f"cancelled at step {self.state.step} of {self.plan.total_steps}; checkpoint kept"
        self._state_event(JobState.CANCELLED, message)
        return self._result(JobState.CANCELLED, StopReason.CANCELLED, message)

    def _finish(self) -> TrainResult:
        if self.last_checkpoint_step != self.state.step:
            self._checkpoint(CheckpointReason.FINAL, is_best=False)
        reason, message = self.state.stop_reason or StopReason.COMPLETED, self.state.stop_message
        self.sink.on_log(message)
        if self.options.load_best_at_end and self.state.best_checkpoint:
            best = self.root / self.state.best_checkpoint
            if best.is_dir():
                checkpoints.load_weights(self.model, best)
            else:
                self.sink.on_log(
                    f"the best checkpoint {best.name} is not here; the model keeps its final weights"
                )
        return self._result(JobState.SUCCEEDED, reason, message)

    def _result(self, state: JobState, reason: StopReason, message: str) -> TrainResult:
        s = self.state
        return TrainResult(
            state=state,
            stop_reason=reason,
            message=message,
            steps=s.step,
            total_steps=self.plan.total_steps,
            epoch=s.epoch_progress(self.plan.micro_batches_per_epoch),
            objective=self.objective.metric,
            objective_goal=self.objective.goal.value,
            final_metrics=s.last_metrics,
            final_details=s.last_details,
            best_metrics=s.best_metrics,
            best_details=s.best_details,
            best_step=s.best_step,
            best_checkpoint=self.root / s.best_checkpoint if s.best_checkpoint else None,
            last_checkpoint=self.last_checkpoint,
            train_tokens=s.train_tokens,
            train_samples=s.train_samples,
            train_seconds=s.train_seconds,
            skipped_steps=s.skipped_steps,
            history=s.history,
            precision=self.policy.effective.value,
            world_size=self.dist.world_size,
        )

    # --- events --------------------------------------------------------------------------------------------

    def _state_event(self, state: JobState, message: str) -> None:
        epoch = self.state.epoch_progress(self.plan.micro_batches_per_epoch)
        self.sink.on_state(StateEvent(state, self.state.step, self.plan.total_steps, epoch, message))

    def _eval_event(self, evaluation: Evaluation, value: float, is_best: bool) -> None:
        self.sink.on_eval(
            EvalEvent(
                step=self.state.step,
                total_steps=self.plan.total_steps,
                epoch=self.state.epoch_progress(self.plan.micro_batches_per_epoch),
                metrics=dict(evaluation.metrics),
                objective=self.objective.metric,
                objective_value=value,
                is_best=is_best,
                details=evaluation.details,
            )
        )


__all__ = ["train"]
