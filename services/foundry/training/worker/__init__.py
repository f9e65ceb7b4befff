"""The training worker: runs one job from the object store to a model version.

`run_job(store, settings, job_id, local_dir) -> JobState` is everything a worker process does
(`python -m foundry.training.worker --job-id ID` reads `Settings` from `FOUNDRY_*`, calls it and
exits 0 on succeeded or cancelled, 1 on failed; a Kubernetes Job runs the same command):

1. read `jobs/<id>/job.json`; a job already succeeded or cancelled is left as it is;
2. state RUNNING; resolve the base model (an imported base model, materialized into the local
   cache, or an earlier model version's `hf/` checkpoint) and the dataset version (its task must
   be the job's); the label map from the dataset's label set;
3. tokenization through the object-store cache (`data.cache.load_or_encode`; a hit is logged);
4. the task model (freezing, LoRA as the spec says), then the training loop with a sink that
   stores its events as `ProgressEvent`s (train events throttled to about one per second) and
   uploads every checkpoint to `jobs/<id>/checkpoints/latest` (and the best to `.../best`); the
   loop's `should_stop` polls the cancel marker at most every `cancel_poll_s` seconds. A worker
   that finds a stored checkpoint resumes from it (a killed worker's replacement goes on);
5. cancelled: state CANCELLED (the checkpoint is kept); a recipe search's trial
   (`spec.search.trial`): state SUCCEEDED with its best evaluation metrics, nothing more (no test
   split, no export, no model version); succeeded: the best weights, LoRA
   merged, the Hugging Face checkpoint, ONNX + int8 with parity on the evaluation split, the
   test split evaluated, the curves PNG, metrics and label map, uploaded under
   `models/<name>/<version_id>/`, then the `ModelVersion` manifest (promoted, or rejected when
   fp32 parity fails), and the final event SUCCEEDED with the version id;
6. any exception: state FAILED with the error message.

Under torchrun (world size above 1, DDP; `DistContext.from_env`) every rank runs `run_job`, but
only rank 0 writes to the object store: the events and the job's state, the token cache, the
checkpoints, the model version. The other ranks read what they need, train, and take part in
the collectives; their `FollowerWriter` stores nothing and their loop sink is a `NullSink`. Rank
0 goes first where something is filled for all (the base-model cache, the token cache, the
local checkpoint folder, which the ranks share: one node or a shared volume). Only rank 0 polls
the cancel marker; the loop's `any_rank` at every step hands its answer to every rank, so all
stop at the same step. After training the other ranks return; rank 0 exports and records.

Chat (causal LM) jobs take the same steps with their own pieces (`foundry.training.chat`): the
chat template is resolved before encoding and enters the cache key, the model is
`AutoModelForCausalLM`, the checkpoint carries the template and a generation config, and the
export is ONNX with a key/value cache whose gate is greedy token equality with PyTorch.

The modules: `run` (`run_job`, the steps above), `inputs` (the dataset, the base model, the
token cache, the model, the checkpoint to resume from), `sink` (loop events to stored progress
events, checkpoints to the store, the cancel poller), `export` (final metrics, ONNX export and its
parity gate), `publish` (the model version's artifacts and manifest, the final event),
`options` (`WorkerOptions`) and `__main__` (the command).
"""
