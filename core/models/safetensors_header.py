"""The header of a safetensors file, read without its tensors and without torch: names, dtypes, shapes.

What it is: :func:`read_safetensors_header` (and :func:`parse_safetensors_header` for bytes already in
memory, an upload's) reads a file's first 8 bytes (the header's length), then the JSON header, and
checks that every tensor's bytes fit its shape and dtype and lie inside the file. The run store
reads a run's weights through it (cheap: a damaged or mismatched file is told from its header), and
:mod:`core.models.checkpoint` compares it with what a config implies before anything is built.

What it is not: loading tensors (``safetensors`` does that in :mod:`core.models.checkpoint`). It imports
the standard library only, so reading a run's summary never pays for torch.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAX_SAFETENSORS_HEADER_BYTES = 2**20  # a model's header names ~20 tensors in a few KB


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
               "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # safetensors' name: "F32"
    shape: tuple[int, ...]


class HeaderError(ValueError):
    """A safetensors header that cannot be read or does not hang together."""


def parse_safetensors_header(head: bytes, file_size: int) -> dict[str, TensorInfo]:
    """Tensor names, dtypes and shapes from a safetensors file's first bytes (at least 8 + header length).

    ``file_size``: the whole file's length, to tell a truncated file. Checks that every tensor's
    bytes fit its shape and dtype and lie inside the file. Raises :class:`HeaderError`.
    """
    if len(head) < 8:
        raise HeaderError(f"{file_size} bytes: too short to be safetensors")
    (n,) = struct.unpack("<Q", head[:8])
    if n > MAX_SAFETENSORS_HEADER_BYTES:
        raise HeaderError(f"its header claims {n:,} bytes, more than the {MAX_SAFETENSORS_HEADER_BYTES:,} allowed")
    if len(head) < 8 + n or file_size < 8 + n:
        raise HeaderError(f"truncated: its header needs {8 + n:,} bytes, the file has {file_size:,}")
    try:
        header = json.loads(head[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise HeaderError(f"its header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise HeaderError("its header is not a JSON object")
    out: dict[str, TensorInfo] = {}
    end_max = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(t, dict) and t.get("dtype") in DTYPE_BYTES and isinstance(t.get("shape"), list)
                and all(_is_int(s) and s >= 0 for s in t["shape"]) and isinstance(t.get("data_offsets"), list)
                and len(t["data_offsets"]) == 2 and all(_is_int(o) and o >= 0 for o in t["data_offsets"])):
            raise HeaderError(f"tensor {name!r}: its entry is malformed")
        begin, end = t["data_offsets"]
        need = math.prod(t["shape"]) * DTYPE_BYTES[t["dtype"]]
        if end - begin != need:
            raise HeaderError(f"tensor {name!r}: {end - begin} bytes for a {t['dtype']} {tuple(t['shape'])}")
        end_max = max(end_max, end)
        out[name] = TensorInfo(t["dtype"], tuple(t["shape"]))
    if 8 + n + end_max > file_size:
        raise HeaderError(f"truncated: its tensors need {8 + n + end_max:,} bytes, the file has {file_size:,}")
    return out


def read_safetensors_header(path: Path) -> dict[str, TensorInfo]:
    """The tensors a safetensors file declares, reading only its header. Raises :class:`HeaderError`."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) == 8:
                n = struct.unpack("<Q", head)[0]
                head += f.read(min(n, MAX_SAFETENSORS_HEADER_BYTES))
    except OSError as e:
        raise HeaderError(f"cannot be read ({e.strerror or e})") from None
    return parse_safetensors_header(head, size)
