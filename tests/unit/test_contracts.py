"""House rules of the contracts (protos/), checked on the generated descriptors.

- every RPC has its own request and response messages, named after the RPC;
- every enum's zero value ends in _UNSPECIFIED, and values carry the enum's name as prefix;
- every file, message, field, enum, enum value, service and RPC has a comment;
- every bytes field states the 1 MiB chunk limit;
- the Open Inference Protocol v2 contract matches tritonclient's, field by field, and
  tritonclient.grpc, unchanged, talks to a server built on our generated stubs in this process.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FileDescriptor

import foundry.api
from foundry.api.inference.v2 import grpc_predict_v2_pb2 as oip_pb2
from foundry.api.inference.v2 import grpc_predict_v2_pb2_grpc as oip_grpc

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "protos"
OIP_PROTO = "foundry/api/inference/v2/grpc_predict_v2.proto"
MAX_CHUNK_COMMENT = "MAX_CHUNK_BYTES = 1048576"

# The RPCs each service must offer (later issues may add more, never remove).
EXPECTED_RPCS: dict[str, set[str]] = {
    "foundry.ingestion.v1.IngestionService": {
        "Upload",
        "ImportObject",
        "GetDataset",
        "ListDatasets",
        "ReadExamples",
        "Preview",
    },
    "foundry.augmentation.v1.AugmentationService": {"Augment", "PreviewAugment", "ListOperators"},
    "foundry.labeling.v1.LabelingService": {
        "CreateProject",
        "GetProject",
        "ListProjects",
        "NextTasks",
        "SubmitAnnotations",
        "ImportAnnotations",
        "PreLabel",
        "Aggregate",
        "Agreement",
        "ApplyRules",
        "FindLabelIssues",
        "SelectForLabeling",
        "ExportProject",
    },
    "foundry.training.v1.TrainingService": {
        "SubmitJob",
        "GetJob",
        "WatchJob",
        "CancelJob",
        "ListJobs",
        "GetModel",
        "ListModels",
        "ImportBaseModel",
        "ListBaseModels",
    },
    "foundry.inference.v1.InferenceService": {
        "LoadModel",
        "UnloadModel",
        "Predict",
        "ListModels",
        "Generate",
    },
    "inference.GRPCInferenceService": {
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
    },
}

# (client streaming, server streaming) of the streaming RPCs; every other RPC is unary.
STREAMING: dict[str, tuple[bool, bool]] = {
    "foundry.ingestion.v1.IngestionService.Upload": (True, False),
    "foundry.ingestion.v1.IngestionService.ReadExamples": (False, True),
    "foundry.labeling.v1.LabelingService.ImportAnnotations": (True, False),
    "foundry.training.v1.TrainingService.WatchJob": (False, True),
    "foundry.training.v1.TrainingService.ImportBaseModel": (True, False),
    "foundry.inference.v1.InferenceService.Generate": (False, True),
}

# The messages of the KServe v2 gRPC specification (nested ones by their full name).
OIP_MESSAGES = {
    "ServerLiveRequest",
    "ServerLiveResponse",
    "ServerReadyRequest",
    "ServerReadyResponse",
    "ModelReadyRequest",
    "ModelReadyResponse",
    "ServerMetadataRequest",
    "ServerMetadataResponse",
    "ModelMetadataRequest",
    "ModelMetadataResponse",
    "ModelMetadataResponse.TensorMetadata",
    "ModelInferRequest",
    "ModelInferRequest.InferInputTensor",
    "ModelInferRequest.InferRequestedOutputTensor",
    "ModelInferResponse",
    "ModelInferResponse.InferOutputTensor",
    "InferParameter",
    "InferTensorContents",
}


def _generated_files() -> list[FileDescriptor]:
    files = []
    for info in pkgutil.walk_packages(foundry.api.__path__, "foundry.api."):
        if info.name.endswith("_pb2"):
            files.append(importlib.import_module(info.name).DESCRIPTOR)
    return sorted(files, key=lambda f: f.name)


FILES = _generated_files()
FOUNDRY_FILES = [f for f in FILES if f.package.startswith("foundry.")]


def _nested(message: Descriptor) -> Iterator[Descriptor]:
    for nested in message.nested_types:
        if not nested.GetOptions().map_entry:
            yield nested
            yield from _nested(nested)


def _messages(file: FileDescriptor) -> Iterator[Descriptor]:
    """Every message of a file, nested ones included (synthetic map entries excluded)."""
    for message in file.message_types_by_name.values():
        yield message
        yield from _nested(message)


def _enums(file: FileDescriptor) -> Iterator[EnumDescriptor]:
    yield from file.enum_types_by_name.values()
    for message in _messages(file):
        yield from message.enum_types


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def test_every_proto_file_is_generated() -> None:
    protos = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))
    assert protos == [f.name for f in FILES]


def test_services_offer_the_expected_rpcs() -> None:
    services = {s.full_name: s for f in FILES for s in f.services_by_name.values()}
    assert set(services) == set(EXPECTED_RPCS)
    for name, rpcs in EXPECTED_RPCS.items():
        assert rpcs <= set(services[name].methods_by_name), name


def test_streaming_shapes() -> None:
    for file in FILES:
        for service in file.services_by_name.values():
            for method in service.methods:
                expected = STREAMING.get(method.full_name, (False, False))
                assert (method.client_streaming, method.server_streaming) == expected, method.full_name


def test_every_rpc_has_its_own_request_and_response() -> None:
    seen: dict[str, str] = {}
    for file in FILES:
        for service in file.services_by_name.values():
            for method in service.methods:
                package = service.file.package
                assert method.input_type.full_name == f"{package}.{method.name}Request", method.full_name
                assert method.output_type.full_name == f"{package}.{method.name}Response", method.full_name
                for message in (method.input_type, method.output_type):
                    assert message.full_name not in seen, (
                        f"{message.full_name} is used by {seen[message.full_name]} and {method.full_name}"
                    )
                    seen[message.full_name] = method.full_name


def test_enum_zero_values_are_unspecified_and_values_are_prefixed() -> None:
    enums = [e for f in FILES for e in _enums(f)]
    assert len(enums) > 20
    for enum in enums:
        zero = enum.values_by_number.get(0)
        assert zero is not None and zero.name.endswith("_UNSPECIFIED"), enum.full_name
        prefix = _upper_snake(enum.name) + "_"
        assert zero.name == prefix + "UNSPECIFIED", enum.full_name
        for value in enum.values:
            assert value.name.startswith(prefix), f"{enum.full_name}.{value.name}"


def test_foundry_packages_are_versioned_and_do_not_import_oip() -> None:
    for file in FOUNDRY_FILES:
        area = file.name.split("/")[2]
        assert file.package == f"foundry.{area}.v1", file.name
        assert OIP_PROTO not in [d.name for d in file.dependencies], file.name


def _source_info(tmp_path: Path) -> descriptor_pb2.FileDescriptorSet:
    from importlib import resources

    out = tmp_path / "set.pb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={resources.files('grpc_tools') / '_proto'}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *[f.name for f in FILES],
        ],
        check=True,
        capture_output=True,
        cwd=PROTO_ROOT,
    )
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _commented_elements(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[tuple[int, ...], str]]:
    """(source path, name) of every element that needs a comment."""
    yield (12,), f"{file.name} (file header)"

    def message(path: tuple[int, ...], msg: descriptor_pb2.DescriptorProto, name: str) -> Iterator[Any]:
        if msg.options.map_entry:
            return
        yield path, name
        for i, field in enumerate(msg.field):
            yield (*path, 2, i), f"{name}.{field.name}"
        for i, nested in enumerate(msg.nested_type):
            yield from message((*path, 3, i), nested, f"{name}.{nested.name}")
        for i, enum_ in enumerate(msg.enum_type):
            yield from enum((*path, 4, i), enum_, f"{name}.{enum_.name}")

    def enum(path: tuple[int, ...], e: descriptor_pb2.EnumDescriptorProto, name: str) -> Iterator[Any]:
        yield path, name
        for i, value in enumerate(e.value):
            yield (*path, 2, i), f"{name}.{value.name}"

    for i, msg in enumerate(file.message_type):
        yield from message((4, i), msg, msg.name)
    for i, e in enumerate(file.enum_type):
        yield from enum((5, i), e, e.name)
    for i, service in enumerate(file.service):
        yield (6, i), service.name
        for j, method in enumerate(service.method):
            yield (6, i, 2, j), f"{service.name}.{method.name}"


def test_every_element_has_a_comment(tmp_path: Path) -> None:
    missing = []
    chunk_fields_without_limit = []
    for file in _source_info(tmp_path).file:
        if not file.name.startswith("foundry/"):
            continue
        comments = {
            tuple(loc.path): loc.leading_comments
            + loc.trailing_comments
            + "".join(loc.leading_detached_comments)
            for loc in file.source_code_info.location
        }
        for path, name in _commented_elements(file):
            if not comments.get(path, "").strip():
                missing.append(f"{file.name}: {name}")
        if file.name == OIP_PROTO:
            continue
        for i, msg in enumerate(file.message_type):
            for j, field in enumerate(msg.field):
                comment = comments.get((4, i, 2, j), "").replace("\n", " ")
                if (
                    field.type == descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    and MAX_CHUNK_COMMENT not in comment
                ):
                    chunk_fields_without_limit.append(f"{file.name}: {msg.name}.{field.name}")
    assert not missing, "elements without a comment:\n  " + "\n  ".join(missing)
    assert not chunk_fields_without_limit, (
        f"bytes fields must state the limit ({MAX_CHUNK_COMMENT}):\n  "
        + "\n  ".join(chunk_fields_without_limit)
    )


# ---------------------------------------------------------------------------------------------
# Open Inference Protocol v2 against tritonclient
# ---------------------------------------------------------------------------------------------

tritonclient_grpc = pytest.importorskip("tritonclient.grpc")


def _file_proto(file: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    return proto


def _message_protos(file: descriptor_pb2.FileDescriptorProto) -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def walk(prefix: str, msg: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}{msg.name}"
        found[name] = msg
        for nested in msg.nested_type:
            walk(f"{name}.", nested)

    for msg in file.message_type:
        walk("", msg)
    return found


def _field_signature(
    msg: descriptor_pb2.DescriptorProto, field: descriptor_pb2.FieldDescriptorProto
) -> tuple[Any, ...]:
    oneof = msg.oneof_decl[field.oneof_index].name if field.HasField("oneof_index") else None
    return (field.number, field.type, field.label, field.type_name, oneof, field.proto3_optional)


def test_oip_v2_uses_a_private_descriptor_pool() -> None:
    assert oip_pb2.DESCRIPTOR.pool is not descriptor_pool.Default()
    assert tritonclient_grpc.service_pb2.DESCRIPTOR.pool is descriptor_pool.Default()


def test_oip_v2_matches_tritonclient_field_by_field() -> None:
    ours_file = _file_proto(oip_pb2.DESCRIPTOR)
    theirs_file = _file_proto(tritonclient_grpc.service_pb2.DESCRIPTOR)
    assert ours_file.package == theirs_file.package == "inference"
    ours, theirs = _message_protos(ours_file), _message_protos(theirs_file)

    assert set(ours) == OIP_MESSAGES | {n for n in ours if n.endswith("ParametersEntry")}
    shared = sorted(set(ours) & set(theirs))
    assert set(ours) <= set(theirs), f"not in tritonclient: {sorted(set(ours) - set(theirs))}"
    for name in shared:
        mine = {f.name: _field_signature(ours[name], f) for f in ours[name].field}
        other = {f.name: _field_signature(theirs[name], f) for f in theirs[name].field}
        assert mine == other, f"inference.{name} differs from tritonclient's"

    their_methods = {m.name: m for m in theirs_file.service[0].method}
    for method in ours_file.service[0].method:
        other_method = their_methods[method.name]
        assert (method.input_type, method.output_type) == (other_method.input_type, other_method.output_type)
        assert (method.client_streaming, method.server_streaming) == (
            other_method.client_streaming,
            other_method.server_streaming,
        )


class _EchoServicer(oip_grpc.GRPCInferenceServiceServicer):
    """A tiny OIP v2 server: one model "echo" that returns input_ids * 0.5 as FP32 logits."""

    def ServerLive(self, request: Any, context: Any) -> Any:
        return oip_pb2.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: Any) -> Any:
        return oip_pb2.ServerReadyResponse(ready=True)

    def ModelReady(self, request: Any, context: Any) -> Any:
        return oip_pb2.ModelReadyResponse(ready=request.name == "echo")

    def ServerMetadata(self, request: Any, context: Any) -> Any:
        return oip_pb2.ServerMetadataResponse(name="foundry", version="test", extensions=[])

    def ModelMetadata(self, request: Any, context: Any) -> Any:
        tensor = oip_pb2.ModelMetadataResponse.TensorMetadata
        return oip_pb2.ModelMetadataResponse(
            name=request.name,
            versions=["1"],
            platform="onnxruntime_onnx",
            inputs=[tensor(name="input_ids", datatype="INT64", shape=[-1, -1])],
            outputs=[tensor(name="logits", datatype="FP32", shape=[-1, -1])],
        )

    def ModelInfer(self, request: Any, context: Any) -> Any:
        tensor = request.inputs[0]
        ids = np.frombuffer(request.raw_input_contents[0], dtype=np.int64).reshape(list(tensor.shape))
        logits = (ids * 0.5).astype(np.float32)
        return oip_pb2.ModelInferResponse(
            model_name=request.model_name,
            model_version="1",
            id=request.id,
            outputs=[
                oip_pb2.ModelInferResponse.InferOutputTensor(
                    name="logits", datatype="FP32", shape=list(logits.shape)
                )
            ],
            raw_output_contents=[logits.tobytes()],
        )


@pytest.fixture
def oip_server() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    oip_grpc.add_GRPCInferenceServiceServicer_to_server(_EchoServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None).wait()


def test_tritonclient_talks_to_our_generated_stubs(oip_server: str) -> None:
    client = tritonclient_grpc.InferenceServerClient(url=oip_server)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("echo")
        assert not client.is_model_ready("other")
        assert client.get_server_metadata().name == "foundry"
        metadata = client.get_model_metadata("echo")
        assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
            ("input_ids", "INT64", [-1, -1])
        ]

        ids = np.array([[101, 7592, 2088, 102]], dtype=np.int64)
        infer_input = tritonclient_grpc.InferInput("input_ids", list(ids.shape), "INT64")
        infer_input.set_data_from_numpy(ids)
        result = client.infer(
            "echo",
            [infer_input],
            outputs=[tritonclient_grpc.InferRequestedOutput("logits")],
            request_id="r1",
        )
        np.testing.assert_array_equal(result.as_numpy("logits"), (ids * 0.5).astype(np.float32))
        assert result.get_response().id == "r1"
    finally:
        client.close()
