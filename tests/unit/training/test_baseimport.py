"""An ImportBaseModel stream's files: order, offsets, declared sizes and hashes, empty files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import cast

import pytest

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.objectstore import ObjectStore
from foundry.training.baseimport import DeclaredFile, ImportHeader, ImportSession

FILES = {"config.json": b"{}", "empty.txt": b"", "sub/model.safetensors": b"x" * 10}


def session(tmp_path: Path, files: dict[str, bytes] = FILES) -> ImportSession:
    header = ImportHeader(
        "tiny",
        "tests",
        tuple(DeclaredFile(p, len(d), hashlib.sha256(d).hexdigest()) for p, d in files.items()),
    )
    header.check()
    return ImportSession(cast(ObjectStore, None), header, tmp_path / "scratch")


def test_files_arrive_in_order_and_empty_ones_need_no_chunk(tmp_path: Path) -> None:
    s = session(tmp_path)
    s.write("config.json", 0, b"{}")
    s.write("sub/model.safetensors", 0, b"x" * 4)
    s.write("sub/model.safetensors", 4, b"x" * 6)
    s._finish_files()
    assert {
        p.relative_to(s.scratch).as_posix(): p.read_bytes() for p in s.scratch.rglob("*") if p.is_file()
    } == FILES
    s.abort()
    assert not s.scratch.exists()


@pytest.mark.parametrize(
    ("chunks", "field"),
    [
        ([("sub/model.safetensors", 0, b"x" * 10)], "files[0]"),  # config.json skipped
        ([("config.json", 0, b"{}"), ("config.json", 5, b"")], "chunk.offset"),
        ([("config.json", 0, b"{}!")], "files[0].size_bytes"),
        ([("config.json", 0, b"[]")], "files[0].sha256"),
    ],
)
def test_bad_streams_are_refused_naming_the_field(
    tmp_path: Path, chunks: list[tuple[str, int, bytes]], field: str
) -> None:
    s = session(tmp_path)
    with pytest.raises(InvalidArgumentError) as caught:
        for path, offset, data in chunks:
            s.write(path, offset, data)
        s._finish_files()
    assert field in {v.field for v in caught.value.violations}


def test_headers_with_unsafe_paths_are_refused() -> None:
    header = ImportHeader(
        "tiny", "", (DeclaredFile("../etc/passwd", 1, "0" * 64), DeclaredFile("/abs", 1, "x"))
    )
    with pytest.raises(InvalidArgumentError) as caught:
        header.check()
    assert {v.field for v in caught.value.violations} == {"files[0].path", "files[1].path", "files[1].sha256"}
