"""The Open Inference Protocol v2 (`inference.GRPCInferenceService`) over the loaded models.

Model names: a loaded version is served as `<name>` (fp32) and `<name>:int8`; the model version
is its version id (empty: the newest loaded). `ModelInfer` takes INT64 `input_ids` and
`attention_mask` of shape `[batch, sequence]`, as `raw_input_contents` (what `tritonclient`
sends) or typed `contents.int64_contents`, and answers FP32 `logits` as
`raw_output_contents`, `[batch, sequence, labels]` or `[batch, labels]`. A missing or unknown
input, a wrong datatype, shape or byte size is INVALID_ARGUMENT naming the tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from foundry import __version__
from foundry.api.inference.v2 import grpc_predict_v2_pb2 as pb
from foundry.api.inference.v2 import grpc_predict_v2_pb2_grpc as pb_grpc
from foundry.inference.core import InferenceCore
from foundry.inference.registry import LoadedModel
from foundry.inference.servicer import Context
from foundry.inference.session import ATTENTION_MASK, INPUT_IDS, LOGITS
from foundry.runtime.errors import FieldViolation, InvalidArgumentError, NotFoundError

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
SERVER_NAME = "foundry-inference"
PLATFORM = "onnxruntime_onnx"


class OipServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, core: InferenceCore) -> None:
        self.core = core

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=True)

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        entry = self.core.registry.by_oip_name(request.name, request.version)
        return pb.ModelReadyResponse(ready=entry is not None and entry.serves_tensors)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=[])

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        entry = self._model(request.name, request.version)
        return model_metadata(entry)

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        entry = self._model(request.model_name, request.model_version)
        input_ids, attention_mask = tensors_from_pb(request)
        logits = await self.core.infer_tensors(entry, input_ids, attention_mask)
        return infer_response(entry, request.id, logits)

    def _model(self, name: str, version: str) -> LoadedModel:
        entry = self.core.registry.by_oip_name(name, version)
        if entry is None:
            raise NotFoundError(
                f"model {name!r}" + (f" version {version!r}" if version else "") + " is not loaded",
                reason="MODEL_NOT_LOADED",
            )
        return entry


def model_metadata(entry: LoadedModel) -> pb.ModelMetadataResponse:
    _, model, _, _ = entry.serving()
    out_shape = [-1, -1, model.num_labels] if model.per_token else [-1, model.num_labels]
    tensor = pb.ModelMetadataResponse.TensorMetadata
    return pb.ModelMetadataResponse(
        name=entry.key.oip_name,
        versions=[entry.key.version_id],
        platform=PLATFORM,
        inputs=[
            tensor(name=INPUT_IDS, datatype="INT64", shape=[-1, -1]),
            tensor(name=ATTENTION_MASK, datatype="INT64", shape=[-1, -1]),
        ],
        outputs=[tensor(name=LOGITS, datatype="FP32", shape=out_shape)],
    )


def tensors_from_pb(request: pb.ModelInferRequest) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(input_ids, attention_mask) from a request, or `InvalidArgumentError` naming the tensor."""
    violations: list[FieldViolation] = []
    found: dict[str, npt.NDArray[np.int64]] = {}
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        violations.append(
            FieldViolation("raw_input_contents", f"{len(raw)} buffers for {len(request.inputs)} inputs")
        )
    for index, tensor in enumerate(request.inputs):
        where = f"inputs[{tensor.name or index}]"
        if tensor.name not in (INPUT_IDS, ATTENTION_MASK):
            violations.append(FieldViolation(f"{where}.name", f"expected {INPUT_IDS} or {ATTENTION_MASK}"))
            continue
        if tensor.datatype != "INT64":
            violations.append(FieldViolation(f"{where}.datatype", f"must be INT64, got {tensor.datatype!r}"))
            continue
        shape = [int(d) for d in tensor.shape]
        if len(shape) != 2 or min(shape) < 1:
            violations.append(FieldViolation(f"{where}.shape", f"must be [batch, sequence], got {shape}"))
            continue
        count = shape[0] * shape[1]
        if raw and index < len(raw):
            if len(raw[index]) != count * 8:
                violations.append(
                    FieldViolation(
                        f"raw_input_contents[{index}]", f"{len(raw[index])} bytes, expected {count * 8}"
                    )
                )
                continue
            values = np.frombuffer(raw[index], dtype="<i8")
        else:
            values = np.asarray(tensor.contents.int64_contents, np.int64)
            if values.size != count:
                violations.append(
                    FieldViolation(f"{where}.contents", f"{values.size} values, expected {count}")
                )
                continue
        found[tensor.name] = values.reshape(shape).astype(np.int64)
    for name in (INPUT_IDS, ATTENTION_MASK):
        if name not in found and not any(v.field.startswith(f"inputs[{name}]") for v in violations):
            violations.append(FieldViolation("inputs", f"missing {name}"))
    for output in request.outputs:
        if output.name != LOGITS:
            violations.append(
                FieldViolation("outputs", f"unknown output {output.name!r}; this model has {LOGITS}")
            )
    if violations:
        raise InvalidArgumentError(
            "invalid ModelInfer request", reason="INVALID_TENSOR", violations=violations
        )
    return found[INPUT_IDS], found[ATTENTION_MASK]


def infer_response(
    entry: LoadedModel, request_id: str, logits: npt.NDArray[np.float32]
) -> pb.ModelInferResponse:
    out: Any = pb.ModelInferResponse.InferOutputTensor(name=LOGITS, datatype="FP32", shape=list(logits.shape))
    return pb.ModelInferResponse(
        model_name=entry.key.oip_name,
        model_version=entry.key.version_id,
        id=request_id,
        outputs=[out],
        raw_output_contents=[np.ascontiguousarray(logits, dtype="<f4").tobytes()],
    )


__all__ = ["SERVICE", "OipServicer", "infer_response", "model_metadata", "tensors_from_pb"]
