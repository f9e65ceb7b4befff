"""Every RPC of every service, run for real in this process against the session's S3 server,
answers malformed and random requests with a status other than UNKNOWN or INTERNAL, within a
deadline, and health still says SERVING afterwards. A huge name is answered with a short error
and a short log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from foundry.api.common.v1 import refs_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as ipb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as ipb_grpc
from foundry.runtime.logs import JsonFormatter
from foundry.runtime.settings import Settings
from helpers.fuzz import all_services, fuzz_rpcs
from helpers.fuzzstack import all_servers, stored_datasets, valid_requests


async def test_every_rpc_answers_fuzzed_requests_without_unknown_internal_or_hanging(
    settings: Settings,
) -> None:
    known = stored_datasets(settings)
    async with all_servers(settings) as channels:
        templates = await valid_requests(channels)
        report = await fuzz_rpcs(
            channels, seed=15, random_cases=6, deadline_s=20.0, known=known, templates=templates
        )
        problems = [*report.unknown_or_internal, *report.hung_calls]
        assert not problems, "\n".join(map(str, problems))
        assert {s.full_name for s in all_services()} <= set(channels), "a service is not started here"
        assert report.rpcs_fuzzed >= 44 and report.fuzz_cases > 400
        assert report.codes["INVALID_ARGUMENT"] > 100
        for name, channel in channels.items():
            if name.endswith("/health"):
                answer: Any = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
                assert answer.status == health_pb2.HealthCheckResponse.SERVING, name


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("ingestion"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_a_3mb_name_gets_a_short_invalid_argument_and_a_short_log_line(settings: Settings) -> None:
    lines = _Lines()
    rpc_log = logging.getLogger("foundry.rpc")
    level = rpc_log.level
    rpc_log.addHandler(lines)
    rpc_log.setLevel(logging.INFO)
    try:
        async with all_servers(settings) as channels:
            stub = ipb_grpc.IngestionServiceStub(channels["foundry.ingestion.v1.IngestionService"])
            name = "n" * 3_000_000
            try:
                await stub.GetDataset(
                    ipb.GetDatasetRequest(dataset=refs_pb2.DatasetRef(name=name)), timeout=30
                )
                raise AssertionError("a 3 MB dataset name was accepted")
            except grpc.aio.AioRpcError as err:
                assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err
                assert len(err.details() or "") < 1000
                assert "chars)" in (err.details() or "")
    finally:
        rpc_log.removeHandler(lines)
        rpc_log.setLevel(level)
    mine = [json.loads(line) for line in lines.lines if "GetDataset" in line]
    assert mine and mine[-1]["code"] == "INVALID_ARGUMENT"
    assert max(len(line) for line in lines.lines) < 4000
