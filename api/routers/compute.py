"""The shared path of every compute endpoint: negotiate, canonicalise, limit, run, render."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import Header, Response

from api.limits import check_depth_limit, check_synchronous_limits
from api.negotiation import JSON, NPZ, PNG, negotiate, render
from api.problems import problem_responses
from api.result_media import RESULT_MEDIA
from service.compute import ComputeService
from service.settings import Settings

AcceptHeader = Annotated[
    str | None,
    Header(
        description="the response's media type: application/json (default), or one of the "
        "others the endpoint's 200 response lists (application/x-npz, image/png)"
    ),
]


class CanonicalRequest(Protocol):
    def canonical(self) -> dict[str, Any]: ...


async def compute_response(
    kind: str,
    body: CanonicalRequest,
    accept: str | None,
    compute: ComputeService,
    settings: Settings,
) -> Response:
    """Run ``kind`` on the validated ``body`` and answer in the media type the client wants.

    PNG figures are rendered in the worker: the request gains ``"format": "png"`` (its own
    cache entry, see service/tasks.py).
    """
    media = RESULT_MEDIA[kind]
    media_type = negotiate(accept, media.offered)
    request = body.canonical()
    check_depth_limit(kind, request, settings)
    check_synchronous_limits(kind, request, settings)
    if media_type == PNG:
        request["format"] = "png"
    outcome = await compute.run(kind, request)
    return render(
        outcome.result, media_type, nullable=media.nullable, headers={"X-Cache": outcome.cache}
    )


def documented_responses(kind: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a compute endpoint: its 200 media types besides JSON, its problems."""
    media_types = [media_type for media_type in RESULT_MEDIA[kind].offered if media_type != JSON]
    binary = {"schema": {"type": "string", "format": "binary"}}
    descriptions = {
        NPZ: "application/x-npz: one array per response field, same names, nested objects "
        'flattened with dots (ntk.lambda_max); null is NaN, the time "inf" is inf, strings '
        "are unicode arrays; load with np.load(io.BytesIO(content))",
        PNG: "image/png: a figure of the result",
    }
    text = "; ".join(descriptions[media_type] for media_type in media_types)
    ok = {
        200: {
            "description": "The result (JSON by default)" + (f"; {text}" if text else ""),
            "headers": {
                "X-Cache": {
                    "description": "hit: served from the result cache; miss: computed",
                    "schema": {"type": "string", "enum": ["hit", "miss"]},
                }
            },
            "content": {media_type: binary for media_type in media_types},
        }
    }
    return ok | problem_responses(400, 406, 413, 422, 503, 504)
