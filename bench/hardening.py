"""Hardening benchmark (issue 15): fuzz every RPC, attack Aggregate, cut uploads short, load
Predict, and price TLS; all against the real services on 127.0.0.1 and a real SeaweedFS S3 server
started here.

    python bench/hardening.py            # 12 random cases per RPC, 10x2 cut uploads, 30 s at c64, 4x20 s per TLS cell
    python bench/hardening.py --quick    # 6 random cases per RPC, 3x2 cut uploads, 10 s at c64, 3x6 s per TLS cell

1. Fuzz: the five services started in one process as their `__main__` wires them
   (`helpers.fuzzstack.all_servers`), over stored datasets and a labeling project with real
   annotations; `helpers.fuzz.fuzz_rpcs` sends garbage bytes, invalid UTF-8 and random and
   mutated messages to every RPC (health included). Counted: RPCs, cases, UNKNOWN or INTERNAL
   answers, calls that hit their deadline (hung), and health still SERVING afterwards.
2. Aggregate attack: 8 concurrent `Aggregate(max_iterations=2147483647, tolerance=0)` calls
   (Dawid-Skene, the annotated project), each to be refused INVALID_ARGUMENT, then a normal
   Aggregate and a ListProjects, each to answer within its 30 s deadline; DEADLINE_EXCEEDED
   anywhere here counts as a hung call.
3. Truncated uploads: per trial, an Upload stream cancelled in this process after 1-3 chunks,
   and one from a client subprocess killed with SIGKILL after as many (`helpers.uploads.Clients`),
   each once the server has spooled those chunks. Then dataset versions and objects in the
   upload bucket are counted: `truncated_uploads_stored` is their sum (nothing may be stored).
4. Predict load (`helpers.load.hold_concurrency`, closed loop) on a tiny text classifier trained
   here by the training worker (as tests/integration/inference does): concurrency 64 for the
   error count, then concurrency 32 over plaintext and over mutual TLS (certificates from
   `foundry.runtime.tlscerts.write_local_tls`, the typed client's `open_aio_channel`), the two
   alternated `--rounds` times; tls_overhead_pct = (1 - tls_rps / plain_rps) * 100.

Client and server share this process's event loop and the machine's cores, so throughputs are
those of the whole loop, not of the server alone. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/helpers
sys.path.insert(0, str(ROOT / "tests" / "integration" / "inference"))  # the tiny model the load test serves

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from inference_models import EXTRA_WORDS, REVIEWS, ner_examples, train  # noqa: E402

from foundry.api.common.v1 import model_pb2, refs_pb2, task_pb2  # noqa: E402
from foundry.api.inference.v1 import inference_service_pb2 as ipb  # noqa: E402
from foundry.api.inference.v1 import inference_service_pb2_grpc as ipb_grpc  # noqa: E402
from foundry.api.ingestion.v1 import ingest_recipe_pb2 as recipe_pb2  # noqa: E402
from foundry.api.ingestion.v1 import ingestion_service_pb2 as upb  # noqa: E402
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as upb_grpc  # noqa: E402
from foundry.api.labeling.v1 import labeling_service_pb2 as lpb  # noqa: E402
from foundry.api.labeling.v1 import labeling_service_pb2_grpc as lpb_grpc  # noqa: E402
from foundry.client.channel import open_aio_channel  # noqa: E402
from foundry.domain.base_models import import_base_model  # noqa: E402
from foundry.inference.__main__ import wire  # noqa: E402
from foundry.inference.settings import InferenceSettings  # noqa: E402
from foundry.runtime.examples import Task  # noqa: E402
from foundry.runtime.objectstore import ObjectStore  # noqa: E402
from foundry.runtime.s3server import SeaweedS3Server  # noqa: E402
from foundry.runtime.server import FoundryServer  # noqa: E402
from foundry.runtime.settings import Settings  # noqa: E402
from foundry.runtime.tlscerts import write_local_tls  # noqa: E402
from helpers.fuzz import fuzz_rpcs  # noqa: E402
from helpers.fuzzstack import LABELING, all_servers, stored_datasets, valid_requests  # noqa: E402
from helpers.load import LoadReport, hold_concurrency  # noqa: E402
from helpers.s3 import S3_ACCESS_KEY, S3_SECRET_KEY, settings_for  # noqa: E402
from helpers.servers import ingestion_server  # noqa: E402
from helpers.training_models import tiny_bert, vocab_from_texts  # noqa: E402
from helpers.uploads import Clients  # noqa: E402

DEADLINE_S = 30.0
CHUNK = 32 * 1024
WAIT_S = 30.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- 1 and 2: fuzz, and the Aggregate attack --------------------------------------------------------
async def aggregate_attack(channels: dict[str, grpc.aio.Channel], project: str) -> dict[str, Any]:
    stub = lpb_grpc.LabelingServiceStub(channels[LABELING])
    attack = lpb.AggregateRequest(
        project_id=project,
        method=lpb.AGGREGATION_METHOD_DAWID_SKENE,
        max_iterations=2147483647,
        tolerance=0.0,
    )

    async def code(call: Awaitable[Any]) -> str:
        try:
            await call
            return "OK"
        except grpc.aio.AioRpcError as err:
            return err.code().name

    started = time.monotonic()
    attacked = await asyncio.gather(*(code(stub.Aggregate(attack, timeout=DEADLINE_S)) for _ in range(8)))
    normal = lpb.AggregateRequest(project_id=project, method=lpb.AGGREGATION_METHOD_DAWID_SKENE)
    after = [
        await code(stub.Aggregate(normal, timeout=DEADLINE_S)),
        await code(stub.ListProjects(lpb.ListProjectsRequest(), timeout=DEADLINE_S)),
    ]
    return {
        "attack_calls": len(attacked),
        "attack_refused_invalid_argument": attacked.count("INVALID_ARGUMENT"),
        "after_attack_codes": after,
        "hung": (attacked + after).count("DEADLINE_EXCEEDED"),
        "seconds": round(time.monotonic() - started, 2),
    }


async def fuzz_part(server: SeaweedS3Server, home: Path, random_cases: int) -> dict[str, Any]:
    settings = settings_for(server, home)
    known = stored_datasets(settings)
    async with all_servers(settings) as channels:
        templates = await valid_requests(channels)
        report = await fuzz_rpcs(
            channels, seed=15, random_cases=random_cases, deadline_s=20.0, known=known, templates=templates
        )
        annotated = templates["/foundry.labeling.v1.LabelingService/Aggregate"][-1]
        attack = await aggregate_attack(channels, getattr(annotated, "project_id", ""))
        not_serving = []
        for name, channel in channels.items():
            if name.endswith("/health"):
                answer: Any = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
                if answer.status != health_pb2.HealthCheckResponse.SERVING:
                    not_serving.append(name)
    for finding in [*report.unknown_or_internal, *report.hung_calls]:
        log(f"  FINDING {finding}")
    return {
        **report.summary(),
        "fuzz_seconds": round(report.seconds, 1),
        "fuzz_codes": dict(report.codes.most_common()),
        "aggregate_attack": attack,
        "not_serving_after": not_serving,
    }


# --- 3: truncated uploads ---------------------------------------------------------------------------
def upload_file(directory: Path) -> Path:
    """A JSONL file of 8 chunks of whole lines: a stream cut after any chunk is still valid JSONL."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "reviews.jsonl"
    lines = [
        json.dumps({"text": f"review {i} of the thing number {i}", "label": "ab"[i % 2]}) for i in range(3000)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def upload_header(name: str) -> upb.UploadHeader:
    return upb.UploadHeader(
        dataset_name=name,
        task=task_pb2.TASK_TEXT_CLASSIFICATION,
        source=recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_JSONL, file_name="reviews.jsonl"),
    )


def spooled(work_dir: Path) -> int:
    total = 0
    for p in work_dir.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            total += p.stat().st_size if p.is_file() else 0
    return total


async def until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def uploads_part(server: SeaweedS3Server, home: Path, trials: int) -> dict[str, Any]:
    settings = settings_for(server, home)
    path = upload_file(home)
    data = path.read_bytes()
    pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    cut = {"cancelled_in_process": 0, "killed_subprocess": 0, "server_never_dropped": 0}
    async with ingestion_server(settings) as (srv, local):
        assert local.ingest_work_dir is not None
        work = local.ingest_work_dir
        address = f"127.0.0.1:{srv.port}"
        async with open_aio_channel(address, local) as channel:
            stub = upb_grpc.IngestionServiceStub(channel)
            clients = await Clients.start(address, upload_header("killed"), path, CHUNK)
            for trial in range(trials):
                stall = 1 + trial % 3
                never = asyncio.Event()

                async def requests(stall: int = stall, never: asyncio.Event = never) -> AsyncIterator[Any]:
                    yield upb.UploadRequest(header=upload_header("cancelled"))
                    for i, piece in enumerate(pieces):
                        if i == stall:
                            await never.wait()
                        yield upb.UploadRequest(chunk=piece)

                call: Any = stub.Upload(requests(), timeout=120)
                await until(lambda stall=stall: spooled(work) >= stall * CHUNK)
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await call
                cut["cancelled_in_process"] += 1
                if not await until(lambda: not any(work.iterdir())):
                    cut["server_never_dropped"] += 1
                pid = await clients.client(stall)
                await until(lambda stall=stall: spooled(work) >= stall * CHUNK)
                await clients.kill(pid)
                cut["killed_subprocess"] += 1
                if not await until(lambda: not any(work.iterdir())):
                    cut["server_never_dropped"] += 1
            await clients.close()
            listed = await stub.ListDatasets(upb.ListDatasetsRequest(), timeout=DEADLINE_S)
    versions = len(listed.dataset_versions)
    objects = ObjectStore.from_settings(settings).count()
    return {**cut, "dataset_versions_stored": versions, "objects_stored": objects}


# --- 4: Predict load, plaintext and TLS ----------------------------------------------------------------
def tiny_model(server: SeaweedS3Server, home: Path) -> InferenceSettings:
    """A tiny BERT text classifier ("tiny-cls"), trained and exported by the training worker."""
    base = settings_for(server, home)
    settings = InferenceSettings(
        **{**base.model_dump(), "inference_cache_dir": home / "models", "grpc_port": 0, "metrics_port": 0}
    )
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    texts = [" ".join(e.tokens or ()) for e in ner_examples()] + [t for t, _ in REVIEWS] + EXTRA_WORDS
    folder = tiny_bert(home / "tiny", vocab_from_texts(texts), max_position_embeddings=64)
    import_base_model(store, "tiny-bert", folder, source="bench")
    train(store, settings, home / "work", Task.TEXT_CLASSIFICATION, "tiny-cls", epochs=2)
    return settings


@asynccontextmanager
async def predictor(
    settings: InferenceSettings, client: Settings
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """The inference service for `settings` with tiny-cls loaded (max batch 32); a Predict call
    over a channel opened with the `client` settings."""
    wired = wire(settings)
    server = FoundryServer(settings, wired.definition)
    await server.start()
    try:
        async with open_aio_channel(f"127.0.0.1:{server.port}", client) as channel:
            stub = ipb_grpc.InferenceServiceStub(channel)
            await stub.LoadModel(
                ipb.LoadModelRequest(
                    model=refs_pb2.ModelRef(name="tiny-cls"),
                    variant=model_pb2.MODEL_VARIANT_FP32,
                    options=ipb.LoadOptions(max_batch_size=32, max_queue_size=256),
                ),
                timeout=120,
            )
            request = ipb.PredictRequest(
                model=refs_pb2.ModelRef(name="tiny-cls"),
                inputs=[ipb.PredictInput(text="great movie loved it")],
            )

            async def predict() -> None:
                response = await stub.Predict(request, timeout=DEADLINE_S)
                if len(response.predictions) != 1:
                    raise ValueError("not one prediction")

            yield predict
    finally:
        await server.drain(0)


async def load_part(server: SeaweedS3Server, home: Path, quick: bool, rounds: int) -> dict[str, Any]:
    started = time.monotonic()
    settings = tiny_model(server, home)
    trained_s = time.monotonic() - started
    tls = write_local_tls(home / "tls")
    tls_server = settings.model_copy(
        update={
            "tls_cert_file": tls.server_cert_file,
            "tls_key_file": tls.server_key_file,
            "tls_ca_file": tls.ca_file,
            "tls_client_auth": True,
        }
    )
    tls_client = Settings(
        tls_cert_file=tls.client_cert_file, tls_key_file=tls.client_key_file, tls_ca_file=tls.ca_file
    )
    c64_s, c32_s = (10.0, 6.0) if quick else (30.0, 20.0)
    async with predictor(settings, Settings()) as predict:
        c64 = await hold_concurrency(predict, concurrency=64, duration_s=c64_s, warmup_s=2)
    log(f"  c64 plaintext: {c64.as_dict()}")
    cells: dict[str, list[LoadReport]] = {"plain": [], "tls": []}
    for _ in range(rounds):
        for name, (serving, client) in {
            "plain": (settings, Settings()),
            "tls": (tls_server, tls_client),
        }.items():
            async with predictor(serving, client) as predict:
                cells[name].append(
                    await hold_concurrency(predict, concurrency=32, duration_s=c32_s, warmup_s=2)
                )
            log(f"  c32 {name}: {cells[name][-1].as_dict()}")

    def rps(reports: list[LoadReport]) -> float:
        return sum(r.calls for r in reports) / sum(r.duration_s for r in reports)

    plain_rps, tls_rps = rps(cells["plain"]), rps(cells["tls"])
    return {
        "model_train_s": round(trained_s, 1),
        "c64": c64.as_dict(),
        "c32_plain": [r.as_dict() for r in cells["plain"]],
        "c32_tls": [r.as_dict() for r in cells["tls"]],
        "plain_rps_c32": round(plain_rps, 1),
        "tls_rps_c32": round(tls_rps, 1),
        "tls_overhead_pct": round((1 - tls_rps / plain_rps) * 100, 1) if plain_rps else None,
    }


# --- the run -------------------------------------------------------------------------------------------
async def run(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = SeaweedS3Server(root / "seaweedfs", access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY)
    server.start(timeout_s=60)
    try:
        log("fuzz and Aggregate attack ...")
        fuzz = await fuzz_part(server, root / "fuzz", args.random_cases)
        log("truncated uploads ...")
        uploads = await uploads_part(server, root / "uploads", args.uploads)
        log("Predict load ...")
        load = await load_part(server, root / "load", args.quick, args.rounds)
    finally:
        server.stop()
    attack = fuzz["aggregate_attack"]
    c64 = load["c64"]
    return {
        "rpcs_fuzzed": fuzz["rpcs_fuzzed"],
        "fuzz_cases": fuzz["fuzz_cases"],
        "unknown_or_internal": fuzz["unknown_or_internal"],
        "hung_calls": fuzz["hung_calls"] + attack["hung"],
        "truncated_uploads_stored": uploads["dataset_versions_stored"] + uploads["objects_stored"],
        "predict_c64_errors": c64["errors"],
        "tls_overhead_pct": load["tls_overhead_pct"],
        "aggregate_attack_refused": f"{attack['attack_refused_invalid_argument']}/{attack['attack_calls']}",
        "after_attack_codes": attack["after_attack_codes"],
        "not_serving_after_fuzz": fuzz["not_serving_after"],
        "fuzz_seconds": fuzz["fuzz_seconds"],
        "fuzz_codes": fuzz["fuzz_codes"],
        "uploads": uploads,
        "predict_c64_calls": c64["calls"],
        "predict_c64_duration_s": c64["duration_s"],
        "predict_c64_rps": c64["throughput_per_s"],
        "predict_c64_rss_growth_mb": round(c64["rss_at_end_mb"] - c64["rss_after_warmup_mb"], 1),
        "plain_rps_c32": load["plain_rps_c32"],
        "tls_rps_c32": load["tls_rps_c32"],
        "c32_plain": [{k: r[k] for k in ("calls", "duration_s", "errors")} for r in load["c32_plain"]],
        "c32_tls": [{k: r[k] for k in ("calls", "duration_s", "errors")} for r in load["c32_tls"]],
        "quick": args.quick,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("RPCs fuzzed", result["rpcs_fuzzed"], ""),
        ("fuzz cases", result["fuzz_cases"], f"{result['fuzz_seconds']} s"),
        ("UNKNOWN or INTERNAL", result["unknown_or_internal"], "must be 0"),
        ("hung calls (fuzz + attack)", result["hung_calls"], "must be 0"),
        ("Aggregate attack refused", result["aggregate_attack_refused"], "INVALID_ARGUMENT"),
        ("after the attack", ", ".join(result["after_attack_codes"]), "Aggregate, ListProjects"),
        ("not SERVING after fuzz", len(result["not_serving_after_fuzz"]), "must be 0"),
        (
            "uploads cut short",
            result["uploads"]["cancelled_in_process"] + result["uploads"]["killed_subprocess"],
            "",
        ),
        ("truncated uploads stored", result["truncated_uploads_stored"], "must be 0"),
        ("Predict c64 errors", result["predict_c64_errors"], f"{result['predict_c64_calls']} calls"),
        ("Predict c64 req/s", result["predict_c64_rps"], f"{result['predict_c64_duration_s']} s"),
        ("Predict c32 req/s plaintext", result["plain_rps_c32"], ""),
        ("Predict c32 req/s mutual TLS", result["tls_rps_c32"], ""),
        ("TLS overhead", f"{result['tls_overhead_pct']} %", "(1 - tls/plain) * 100"),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value!s:>10}  {note}" for name, value, note in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer cases and shorter loads (< 5 min on 2 cores)"
    )
    args = parser.parse_args()
    args.random_cases, args.uploads, args.rounds = (6, 3, 3) if args.quick else (12, 10, 4)
    with tempfile.TemporaryDirectory(prefix="foundry-bench-hardening-") as tmp:
        result = asyncio.run(run(Path(tmp), args))
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
