"""Weight-file safety: only safetensors is accepted; pickle-based files are refused unread.

Loading a pickle (`pytorch_model.bin`, `*.pt`, `*.ckpt`, ...) can run arbitrary code, so such a
file is refused by its name *and* by its first bytes: a pickle stream starts with the PROTO
opcode (0x80 and a protocol number), and `torch.save` writes a zip archive ("PK\\x03\\x04")
holding a pickle. Other non-safetensors weight formats (TensorFlow `.h5`, Flax `.msgpack`, GGUF,
NumPy) are refused too: Foundry trains from safetensors only.

`safetensors_parameter_count` reads a safetensors header (an 8-byte little-endian length, then
a JSON object of tensor name → dtype, shape, data offsets) without loading any tensor: it
validates the file's structure and counts its parameters.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

#: suffixes (lowercase) of weight formats that are refused, with what they are
REFUSED_SUFFIXES: dict[str, str] = {
    ".bin": "a PyTorch pickle checkpoint",
    ".pt": "a PyTorch pickle checkpoint",
    ".pth": "a PyTorch pickle checkpoint",
    ".ckpt": "a pickle checkpoint",
    ".pkl": "a Python pickle",
    ".pickle": "a Python pickle",
    ".joblib": "a joblib pickle",
    ".h5": "a TensorFlow/Keras HDF5 checkpoint",
    ".msgpack": "a Flax msgpack checkpoint",
    ".gguf": "a GGUF checkpoint",
    ".npy": "a NumPy array file (may hold pickled objects)",
    ".npz": "a NumPy archive (may hold pickled objects)",
}
SAFETENSORS_SUFFIX = ".safetensors"
#: largest safetensors header accepted (the format's own readers cap it at 100 MB)
MAX_HEADER_BYTES = 100_000_000
_ZIP_MAGIC = b"PK\x03\x04"


def refused_format(path: Path) -> str | None:
    """What `path` is if it must be refused (by suffix or by its first bytes), else None."""
    kind = REFUSED_SUFFIXES.get(path.suffix.lower())
    if kind is not None:
        return kind
    with open(path, "rb") as handle:
        head = handle.read(4)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "a Python pickle (by its content)"
    if head == _ZIP_MAGIC:
        return "a zip archive, the format of torch.save checkpoints (by its content)"
    return None


def safetensors_parameter_count(path: Path) -> int:
    """The number of parameters in a safetensors file; `ValueError` if it is malformed."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ValueError("shorter than the 8-byte header length")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
            raise ValueError(f"header length {header_len} does not fit a {size}-byte file")
        header = json.loads(handle.read(header_len))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    data_bytes = size - 8 - header_len
    count = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise ValueError(f"tensor {name!r} has no dtype/shape/data_offsets entry")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"tensor {name!r} has an invalid shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_bytes
        ):
            raise ValueError(f"tensor {name!r} has data offsets {offsets!r} outside the file")
        count += math.prod(shape)
    return count


__all__ = ["REFUSED_SUFFIXES", "SAFETENSORS_SUFFIX", "refused_format", "safetensors_parameter_count"]
