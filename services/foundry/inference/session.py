"""One ONNX Runtime session per loaded model.

Providers: CUDA when this onnxruntime build offers it (onnxruntime-gpu), then CPU; the one in
use is reported. Threads: `intra_op_threads` (0: one per core), one inter-op thread (a BERT
graph is a chain), full graph optimisation, and no busy-waiting by default: ONNX Runtime's
threads otherwise spin between ops and take the cores from the event loop that tokenizes and
answers (on a shared 2-core machine, MiniLM NER at batch 1: 49 sentences/s spinning, 119/s not,
with half the CPU time). `run` is thread-safe (ONNX Runtime sessions are)
and releases the GIL, so the event loop keeps serving while a batch runs in a worker thread.
A warm-up at load runs two small batches, so the first caller does not pay for allocation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
INPUT_IDS, ATTENTION_MASK, LOGITS = "input_ids", "attention_mask", "logits"


class OrtModel:
    """A loaded ONNX graph with inputs `input_ids`/`attention_mask` and output `logits`."""

    def __init__(self, path: Path, *, intra_op_threads: int = 0, spinning: bool = False) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = set(ort.get_available_providers())
        providers = [p for p in PREFERRED_PROVIDERS if p in available] or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.provider: str = self.session.get_providers()[0]
        names = {i.name for i in self.session.get_inputs()}
        if names != {INPUT_IDS, ATTENTION_MASK}:
            raise ValueError(f"the graph's inputs are {sorted(names)}, expected input_ids and attention_mask")
        output = self.session.get_outputs()[0]
        self.per_token = len(output.shape) == 3
        self.num_labels = int(output.shape[-1])

    def run(
        self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """Logits `[batch, sequence, labels]` (token classification) or `[batch, labels]`."""
        (logits,) = self.session.run([LOGITS], {INPUT_IDS: input_ids, ATTENTION_MASK: attention_mask})
        return np.asarray(logits, np.float32)

    def warm_up(self, pad_id: int = 0, length: int = 16) -> None:
        for batch in (1, 4):
            ids = np.full((batch, length), pad_id + 1, np.int64)
            self.run(ids, np.ones_like(ids))


__all__ = ["OrtModel"]
