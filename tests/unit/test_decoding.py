"""Requests that do not parse are INVALID_ARGUMENT naming the RPC and the bad field."""

from __future__ import annotations

import pytest

from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2 as ipb
from foundry.runtime.decoding import Undecodable, decoded, lenient, request_descriptor
from foundry.runtime.errors import InvalidArgumentError

PREDICT = "/foundry.inference.v1.InferenceService/Predict"
LIST_MODELS = "/foundry.inference.v1.InferenceService/ListModels"


def test_invalid_utf8_is_located_in_texts_and_words() -> None:
    raw = pb.PredictRequest(
        inputs=[
            pb.PredictInput(id="a", text="fine"),
            pb.PredictInput(tokens=pb.TokenList(tokens=["ok", "ok", "QQ"])),
            pb.PredictInput(text="bad ZZ"),
        ],
        top_k=3,
    ).SerializeToString()
    raw = raw.replace(b"QQ", b"\xe2\x82").replace(b"ZZ", b"\x80x")
    parsed = lenient(pb.PredictRequest.FromString, PREDICT)(raw)
    assert isinstance(parsed, Undecodable)
    with pytest.raises(InvalidArgumentError) as err:
        decoded(parsed)
    assert err.value.reason == "INVALID_UTF8"
    assert [v.field for v in err.value.violations] == ["inputs[1].tokens.tokens[2]", "inputs[2].text"]
    assert "byte 4" in err.value.violations[1].description
    assert PREDICT in str(err.value) and err.value.metadata["method"] == PREDICT


def test_valid_requests_pass_and_garbage_is_malformed() -> None:
    request = pb.PredictRequest(inputs=[pb.PredictInput(text="北京 😀")])
    assert decoded(lenient(pb.PredictRequest.FromString, PREDICT)(request.SerializeToString())) == request
    with pytest.raises(InvalidArgumentError) as err:
        decoded(lenient(pb.ListModelsRequest.FromString, LIST_MODELS)(b"\xff\xff\xff"))
    assert err.value.reason == "MALFORMED_REQUEST"
    assert LIST_MODELS in str(err.value)


def test_every_service_method_resolves_its_request_type() -> None:
    method = "/foundry.ingestion.v1.IngestionService/Upload"
    descriptor = request_descriptor(method)
    assert descriptor is not None
    assert descriptor.full_name == ipb.UploadRequest.DESCRIPTOR.full_name
    assert request_descriptor("/no.Such/Method") is None
    assert request_descriptor("garbage") is None


def test_a_nested_header_field_is_named() -> None:
    method = "/foundry.ingestion.v1.IngestionService/Upload"
    raw = ipb.UploadRequest(header=ipb.UploadHeader(dataset_name="QQQ")).SerializeToString()
    with pytest.raises(InvalidArgumentError) as err:
        decoded(lenient(ipb.UploadRequest.FromString, method)(raw.replace(b"QQQ", b"\xff\xfe\xfd")))
    assert [v.field for v in err.value.violations] == ["header.dataset_name"]
