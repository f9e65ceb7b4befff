"""`foundry predict` and `foundry models load / unload / loaded`: clients of the inference
service; and the demo's serving stage (`run_demo_stage`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from foundry.api.common.v1 import model_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.client.inference import InferenceClient
from foundry.runtime.settings import Settings

#: sentences in the style of WNUT-17 (user-generated text) for the demo
DEMO_SENTENCES = (
    "Just landed in New York , heading to see the Yankees with Mike tonight !",
    "Watching Game of Thrones on HBO with my sister in London",
    "@john are you going to the Taylor Swift concert at Madison Square Garden ?",
    "Apple just announced the new iPhone in Cupertino",
)
DEMO_LATENCY_CALLS = 30


def split_ref(ref: str) -> tuple[str, str]:
    """`NAME` or `NAME@VERSION_ID`."""
    name, _, version_id = ref.partition("@")
    return name, version_id


def _variant(int8: bool) -> model_pb2.ModelVariant.ValueType:
    return model_pb2.MODEL_VARIANT_INT8 if int8 else model_pb2.MODEL_VARIANT_FP32


def load_options(max_batch_size: int | None = None, max_queue_delay_ms: int | None = None) -> pb.LoadOptions:
    """Load options; unset ones take the service's configured defaults."""
    return pb.LoadOptions(max_batch_size=max_batch_size, max_queue_delay_ms=max_queue_delay_ms)


def load_model(
    settings: Settings, ref: str, *, int8: bool = False, options: pb.LoadOptions | None = None
) -> pb.LoadedModel:
    name, version_id = split_ref(ref)
    request = pb.LoadModelRequest(
        model=refs_pb2.ModelRef(name=name, version_id=version_id),
        variant=_variant(int8),
        options=options or pb.LoadOptions(),
    )
    with InferenceClient(settings) as client:
        return client.load_model(request).loaded_model


def unload_model(settings: Settings, ref: str, *, int8: bool | None = None) -> list[pb.LoadedModel]:
    name, version_id = split_ref(ref)
    variant = model_pb2.MODEL_VARIANT_UNSPECIFIED if int8 is None else _variant(int8)
    request = pb.UnloadModelRequest(
        model=refs_pb2.ModelRef(name=name, version_id=version_id), variant=variant
    )
    with InferenceClient(settings) as client:
        return list(client.unload_model(request).unloaded_models)


def list_loaded(settings: Settings, name: str = "") -> list[pb.LoadedModel]:
    with InferenceClient(settings) as client:
        return list(client.list_models(pb.ListModelsRequest(name=name)).loaded_models)


def predict_request(
    ref: str, texts: Sequence[str], *, int8: bool | None = None, words: bool = False, top_k: int = 1
) -> pb.PredictRequest:
    """A request for `texts` (each split at spaces into words when `words`)."""
    name, version_id = split_ref(ref)
    inputs = [
        pb.PredictInput(id=str(i), tokens=pb.TokenList(tokens=t.split()))
        if words
        else pb.PredictInput(id=str(i), text=t)
        for i, t in enumerate(texts)
    ]
    request = pb.PredictRequest(
        model=refs_pb2.ModelRef(name=name, version_id=version_id),
        variant=model_pb2.MODEL_VARIANT_UNSPECIFIED if int8 is None else _variant(int8),
        inputs=inputs,
        top_k=top_k,
    )
    return request


def predict(
    settings: Settings,
    ref: str,
    texts: Sequence[str],
    *,
    int8: bool | None = None,
    words: bool = False,
    top_k: int = 1,
) -> pb.PredictResponse:
    request = predict_request(ref, texts, int8=int8, words=words, top_k=top_k)
    with InferenceClient(settings) as client:
        return client.predict(request)


def variant_name(variant: int) -> str:
    return "int8" if variant == model_pb2.MODEL_VARIANT_INT8 else "fp32"


def state_name(state: int) -> str:
    return pb.ModelState.Name(state).removeprefix("MODEL_STATE_").lower()  # type: ignore[arg-type]


def loaded_table(models: Sequence[pb.LoadedModel]) -> Table:
    table = Table(title="loaded models")
    for column in ("model", "version", "variant", "state", "provider", "max batch", "delay ms", "OIP name"):
        table.add_column(column)
    for m in models:
        table.add_row(
            m.model.name,
            m.model.version_id[:12],
            variant_name(m.variant),
            state_name(m.state) + (f": {m.error}" if m.error else ""),
            m.provider,
            str(m.options.max_batch_size),
            str(m.options.max_queue_delay_ms),
            m.oip_model_name,
        )
    return table


def predictions_table(response: pb.PredictResponse, texts: Sequence[str]) -> Table:
    """Entities (token classification) or labels (classification), one row per input."""
    ref = f"{response.model.name}@{response.model.version_id[:12]} ({variant_name(response.variant)})"
    table = Table(title=f"predictions of {ref}", show_lines=True)
    table.add_column("text", max_width=60)
    table.add_column("entities / labels")
    for prediction, text in zip(response.predictions, texts, strict=True):
        if prediction.entities or not prediction.distribution:
            found = "\n".join(
                f"[bold]{e.type}[/bold] {e.text!r} [{e.start}:{e.end}] {e.score:.2f}"
                for e in prediction.entities
            )
        else:
            found = ", ".join(f"{s.label} {s.score:.2f}" for s in prediction.top_k)
        suffix = f" ({prediction.windows} windows)" if prediction.windows > 1 else ""
        table.add_row(text + suffix, found or "[dim]none[/dim]")
    return table


def run_demo_stage(settings: Settings, console: Console, model_name: str, version: str) -> None:
    """Load the trained model through LoadModel, print entities for a few sentences, and the
    measured Predict latency (one sentence per call, as a user would call it)."""
    console.rule("7. serve it: LoadModel, Predict (inference service, ONNX Runtime)")
    ref = f"{model_name}@{version}" if version else model_name
    with console.status("loading the model (download, sha256 check, ONNX Runtime session, warm-up)..."):
        started = time.perf_counter()
        loaded = load_model(settings, ref)
        load_s = time.perf_counter() - started
    console.print(
        f"loaded {loaded.model.name}@{loaded.model.version_id[:12]} ({variant_name(loaded.variant)}) on "
        f"{loaded.provider} in {load_s:.1f}s; OIP v2 name {loaded.oip_model_name!r}"
    )
    response = predict(settings, ref, DEMO_SENTENCES)
    console.print(predictions_table(response, DEMO_SENTENCES))
    latencies = []
    requests = [predict_request(ref, [sentence]) for sentence in DEMO_SENTENCES]
    with InferenceClient(settings) as client:
        for i in range(DEMO_LATENCY_CALLS):
            started = time.perf_counter()
            client.predict(requests[i % len(requests)])
            latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    console.print(
        f"Predict latency over {DEMO_LATENCY_CALLS} calls (one sentence each): "
        f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms"
    )


__all__ = [
    "list_loaded",
    "load_model",
    "load_options",
    "loaded_table",
    "predict",
    "predictions_table",
    "run_demo_stage",
    "unload_model",
]
