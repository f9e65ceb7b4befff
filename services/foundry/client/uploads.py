"""Reading files in the chunks that every upload RPC takes (Upload, ImportAnnotations,
ImportBaseModel: at most MAX_CHUNK_BYTES = 1 MiB per message)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

#: the largest chunk the services accept
CHUNK_BYTES = 1024 * 1024
#: called with the size of each chunk as it is handed to the call (for progress bars)
OnBytes = Callable[[int], None]


def read_chunks(path: Path, on_bytes: OnBytes | None = None) -> Iterator[bytes]:
    """The file's bytes in chunks of at most CHUNK_BYTES, read as the call takes them."""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
            if on_bytes is not None:
                on_bytes(len(chunk))
