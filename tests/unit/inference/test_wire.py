"""Requests that do not parse name their bad field."""

from __future__ import annotations

import pytest

from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.inference.wire import Undecodable, decoded, lenient
from foundry.runtime.errors import InvalidArgumentError


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
    parsed = lenient(pb.PredictRequest)(raw)
    assert isinstance(parsed, Undecodable)
    with pytest.raises(InvalidArgumentError) as err:
        decoded(parsed)
    assert err.value.reason == "INVALID_UTF8"
    assert [v.field for v in err.value.violations] == ["inputs[1].tokens.tokens[2]", "inputs[2].text"]
    assert "byte 4" in err.value.violations[1].description


def test_valid_requests_pass_and_garbage_is_malformed() -> None:
    request = pb.PredictRequest(inputs=[pb.PredictInput(text="北京 😀")])
    assert decoded(lenient(pb.PredictRequest)(request.SerializeToString())) == request
    with pytest.raises(InvalidArgumentError) as err:
        decoded(lenient(pb.ListModelsRequest)(b"\xff\xff\xff"))
    assert err.value.reason == "MALFORMED_REQUEST"
