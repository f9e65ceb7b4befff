"""Log lines are bounded however much of a request a field quotes."""

from __future__ import annotations

import json
import logging

from foundry.runtime.logs import MAX_LOG_LINE_CHARS, BoundedFormatter, JsonFormatter


def record(**extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord({"name": "foundry.rpc", "msg": "rpc", "levelno": 20, "levelname": "INFO"})
    rec.__dict__.update(extra)
    return rec


def test_each_field_is_cut_and_the_line_stays_json() -> None:
    line = JsonFormatter("ingestion").format(record(error="x" * 3_000_000, code="INVALID_ARGUMENT", n=3))
    entry = json.loads(line)
    assert len(line) < 3000
    assert entry["code"] == "INVALID_ARGUMENT" and entry["n"] == 3
    assert entry["error"].startswith("xxx") and entry["error"].endswith("chars)")


def test_a_line_of_many_fields_keeps_its_standard_fields() -> None:
    fields = {f"f{i}": "y" * 1900 for i in range(20)}
    line = JsonFormatter("ingestion").format(record(**fields))
    entry = json.loads(line)
    assert len(line) <= MAX_LOG_LINE_CHARS
    assert entry["service"] == "ingestion" and entry["msg"] == "rpc" and "truncated" in entry


def test_small_structures_are_kept_and_plain_lines_are_cut() -> None:
    entry = json.loads(JsonFormatter("s").format(record(sizes=[1, 2], where={"a": 1})))
    assert entry["sizes"] == [1, 2] and entry["where"] == {"a": 1}
    plain = BoundedFormatter("%(message)s").format(record(msg="z" * 100_000))
    assert len(plain) < MAX_LOG_LINE_CHARS + 30
