"""Binary encoding of result dicts for the shared cache (never pickle).

Layout: ``MAGIC`` (4 bytes), the header length (4 bytes, big-endian), a UTF-8 JSON header,
then the raw C-order bytes of each array, back to back. The header is the result with each
array replaced by ``{"__array__": i}`` plus, under ``"arrays"``, each array's dtype string
(byte order included) and shape. Only numeric and boolean dtypes are accepted, so a decoded
value is bit-for-bit the encoded one and decoding runs no code.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

MAGIC = b"DKC1"
_LENGTH = struct.Struct(">I")
_KINDS = "biufc"  # bool, signed, unsigned, float, complex


class CodecError(ValueError):
    """The value cannot be encoded, or the bytes are not an encoded value."""


def encode(value: dict[str, Any]) -> bytes:
    """``value`` (JSON-able data and numpy arrays, nested anywhere) -> bytes."""
    arrays: list[np.ndarray] = []

    def strip(item: Any) -> Any:
        if isinstance(item, np.ndarray):
            if item.dtype.kind not in _KINDS:
                raise CodecError(f"cannot cache arrays of dtype {item.dtype}")
            arrays.append(np.ascontiguousarray(item))
            return {"__array__": len(arrays) - 1}
        if isinstance(item, np.generic):
            return item.item()
        if isinstance(item, dict):
            return {str(k): strip(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [strip(v) for v in item]
        return item

    body = strip(value)
    meta = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]
    header = json.dumps({"value": body, "arrays": meta}, allow_nan=True).encode()
    return b"".join([MAGIC, _LENGTH.pack(len(header)), header, *(a.tobytes() for a in arrays)])


def decode(data: bytes) -> dict[str, Any]:
    """Bytes from :func:`encode` -> the value; arrays come back read-only."""
    if data[:4] != MAGIC:
        raise CodecError("not a deepkernel cache entry")
    try:
        (length,) = _LENGTH.unpack_from(data, 4)
        start = 8 + length
        header = json.loads(data[8:start])
        arrays: list[np.ndarray] = []
        for meta in header["arrays"]:
            dtype = np.dtype(meta["dtype"])
            if dtype.kind not in _KINDS:
                raise CodecError(f"unexpected dtype {dtype}")
            shape = tuple(int(n) for n in meta["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            if start + count * dtype.itemsize > len(data):
                raise CodecError("cache entry is truncated")
            array = np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(shape)
            arrays.append(array)
            start += count * dtype.itemsize
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise CodecError(f"malformed cache entry: {exc}") from None
    if start != len(data):
        raise CodecError("cache entry has the wrong length")

    def restore(item: Any) -> Any:
        if isinstance(item, dict):
            if set(item) == {"__array__"}:
                return arrays[item["__array__"]]
            return {k: restore(v) for k, v in item.items()}
        if isinstance(item, list):
            return [restore(v) for v in item]
        return item

    result = restore(header["value"])
    if not isinstance(result, dict):
        raise CodecError("cache entry is not a result object")
    return result


def size_of(value: Any) -> int:
    """Approximate in-memory bytes of a result: array data plus a small cost per item."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    if isinstance(value, dict):
        return 64 + sum(size_of(k) + size_of(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 56 + sum(size_of(v) for v in value)
    if isinstance(value, str):
        return 49 + len(value)
    return 32


def freeze(value: Any) -> Any:
    """Make every array inside ``value`` read-only, so cached results cannot be mutated."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, dict):
        for item in value.values():
            freeze(item)
    elif isinstance(value, list | tuple):
        for item in value:
            freeze(item)
    return value
