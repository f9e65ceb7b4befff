"""The training loop: AdamW with warmup schedules, mixed precision, DDP, exact resume.

- `trainer`: `train(spec, model, train, eval, tokenizer_info, label_map, *, sink, checkpoint_dir,
  resume_from=None, should_stop=..., options=None) -> TrainResult`;
- `setup`: `LoopOptions`, the input checks, seeding;
- `events`: what the loop reports (`EventSink`, `StateEvent`, `StepEvent`, `EvalEvent`,
  `CheckpointEvent`) and `JobState` / `StopReason`;
- `results`: `TrainResult`, `TrainHistory` (per-step loss and learning rate, per-evaluation metrics);
- `loss`: every label token weighs the same: each step's loss sum over the label tokens of an
  average step (all ranks), whatever the length grouping, accumulation or DDP;
- `step`: one optimizer step (backward, unscale, clip, AdamW, schedule) and the step reports;
- `optim`: AdamW parameter groups (no decay for biases and norms), linear / cosine / constant
  schedules with linear warmup;
- `precision`: the AMP policy (bf16 / fp16 + GradScaler on CUDA, fp32 on CPU);
- `distributed`: `DistContext` (torchrun env, gloo / NCCL, world size 1 without a process group);
- `evaluate`: loss and the task's metrics on an encoded split;
- `selection`: the objective (best checkpoint) and early stopping;
- `state`: the step plan and the loop's counters; `checkpoints`: resumable checkpoint folders
  (safetensors + `weights_only` state), pruning, `load_weights`;
- `resume`: the training state a checkpoint carries for an exact resume, and its restore;
- `curves`: `plot_curves(history, out_png)`.

Modules are imported from their own paths: this package imports nothing eagerly, so the
training service's control plane reads `events` (`JobState`) without loading torch.
"""
