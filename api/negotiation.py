"""Content negotiation: JSON by default, NumPy ``.npz`` and PNG on request.

* ``application/json``: nested lists. NaN inside a result means "does not exist" and becomes
  ``null`` in the fields a kind declares nullable; anywhere else a non-finite number is a
  :class:`core.errors.NumericalError` (422), never a NaN or inf in a 200.
* ``application/x-npz``: one array per response field, same names; nested objects are
  flattened with dots (``critical_line.sigma_w2``, ``ntk.lambda_max``). Strings become NumPy
  unicode arrays (``""`` for null); in numeric arrays ``null`` is NaN and the time ``"inf"``
  is ``np.inf`` — NumPy's own spelling of what JSON writes as null and "inf". Load with
  ``np.load(io.BytesIO(content))`` (no pickle needed).
* ``image/png``: a figure rendered in the worker (service/figures.py).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from fastapi import Response

from core.errors import DeepKernelError, NumericalError

JSON = "application/json"
NPZ = "application/x-npz"
PNG = "image/png"


class NotAcceptableError(DeepKernelError):
    """No media type the endpoint can produce is acceptable to the client."""

    status = 406
    slug = "not-acceptable"
    title = "Not acceptable"


def negotiate(accept: str | None, offered: Sequence[str]) -> str:
    """The offered media type the ``Accept`` header prefers (ties: the first offered)."""
    if not accept or not accept.strip():
        return offered[0]
    ranges = [_parse_range(part) for part in accept.split(",") if part.strip()]
    best, best_quality = None, 0.0
    for media_type in offered:
        quality = _quality(media_type, ranges)
        if quality > best_quality:
            best, best_quality = media_type, quality
    if best is None:
        raise NotAcceptableError(
            f"cannot produce any of the media types in Accept: {accept!r}; "
            f"this endpoint offers {', '.join(offered)}"
        )
    return best


def _parse_range(part: str) -> tuple[str, float]:
    media_range, *params = (piece.strip() for piece in part.split(";"))
    quality = 1.0
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
            if not 0.0 <= quality <= 1.0:
                quality = 0.0
    return media_range.lower(), quality


def _quality(media_type: str, ranges: Iterable[tuple[str, float]]) -> float:
    """Quality of the most specific range matching ``media_type`` (RFC 9110 §12.5.1)."""
    kind = media_type.split("/")[0]
    best_specificity, quality = -1, 0.0
    for media_range, q in ranges:
        specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(media_range, -1)
        if specificity > best_specificity:
            best_specificity, quality = specificity, q
    return quality


def render(
    result: Mapping[str, Any],
    media_type: str,
    *,
    nullable: frozenset[str] = frozenset(),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response body for ``result`` in ``media_type`` (as chosen by :func:`negotiate`)."""
    if media_type == PNG:
        return Response(np.asarray(result["png"], dtype=np.uint8).tobytes(), 200, headers, PNG)
    check_finite(result, nullable)
    if media_type == NPZ:
        return Response(npz_bytes(result), 200, headers, NPZ)
    body = json.dumps(jsonable(result), allow_nan=False, separators=(",", ":"))
    return Response(body, 200, headers, JSON)


def check_finite(result: Mapping[str, Any], nullable: frozenset[str] = frozenset()) -> None:
    """The last guard before a 200: NaN only in ``nullable`` fields (dotted paths, e.g.
    ``ntk.log10_lambda_min``, covering what they contain), inf nowhere.

    Raises :class:`NumericalError` naming the field.
    """
    for key, value in result.items():
        _check(value, key, nullable)


def _check(value: Any, path: str, nullable: frozenset[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check(item, f"{path}.{key}", nullable)
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check(item, path, nullable)
        return
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        if not np.isfinite(value).all() and (
            np.isinf(value).any() or not _is_nullable(path, nullable)
        ):
            raise _non_finite(path)
    elif (
        isinstance(value, float | np.floating)
        and not math.isfinite(value)
        and (math.isinf(value) or not _is_nullable(path, nullable))
    ):
        raise _non_finite(path)


def _is_nullable(path: str, nullable: frozenset[str]) -> bool:
    return any(path == name or path.startswith(f"{name}.") for name in nullable)


def _non_finite(path: str) -> NumericalError:
    return NumericalError(
        f"the computation produced a non-finite value in {path!r}; float64 cannot resolve this "
        "input — try a smaller depth or variances closer to the order-to-chaos line"
    )


def jsonable(value: Any) -> Any:
    """Numpy arrays and scalars to plain lists and numbers; NaN (checked) to ``None``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and np.isnan(value).any():
            with_nulls = value.astype(object)
            with_nulls[np.isnan(value)] = None
            return with_nulls.tolist()
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def npz_bytes(result: Mapping[str, Any]) -> bytes:
    """``np.savez`` of the flattened result (see the module docstring for the encoding)."""
    arrays: dict[str, np.ndarray] = {}
    _flatten(result, "", arrays)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _flatten(value: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
        return
    out[prefix] = _as_array(value)


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    leaves = list(_leaves(value))
    if (
        leaves
        and all(leaf is None or isinstance(leaf, str) for leaf in leaves)
        and any(isinstance(leaf, str) and leaf != "inf" for leaf in leaves)
    ):
        return np.asarray(_map_leaves(value, lambda leaf: "" if leaf is None else leaf), dtype=str)
    if not leaves and isinstance(value, list):
        return np.asarray(value, dtype=str)
    numeric = _map_leaves(value, _numeric_leaf)
    if all(isinstance(leaf, bool) for leaf in leaves) and leaves:
        return np.asarray(numeric, dtype=bool)
    if all(isinstance(leaf, int) and not isinstance(leaf, bool) for leaf in leaves) and leaves:
        return np.asarray(numeric, dtype=np.int64)
    return np.asarray(numeric, dtype=np.float64)


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _map_leaves(value: Any, function: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_map_leaves(item, function) for item in value]
    return function(value)


def _numeric_leaf(leaf: Any) -> Any:
    if leaf is None:
        return math.nan
    if leaf == "inf":
        return math.inf
    return leaf
