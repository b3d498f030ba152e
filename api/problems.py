"""RFC 9457 problem details: the one rendering of every error the service returns.

``type`` is an absolute-path URI ``/problems/<slug>``; validation problems carry an
``errors`` list with one entry per bad field, named by its dotted path in the request body
(``network.sigma_w2``, ``x1[3][0]``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import DeepKernelError

PROBLEM_MEDIA_TYPE = "application/problem+json"
logger = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One invalid field of a request body."""

    field: str = Field(description="dotted path of the field in the request body, e.g. x1[2][0]")
    message: str = Field(description="what is wrong and what to change")
    type: str = Field(description="machine-readable error kind")


class Problem(BaseModel):
    """An RFC 9457 problem details object (media type application/problem+json)."""

    type: str = Field(description="URI reference naming the problem kind, /problems/<slug>")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="for validation problems: one entry per bad field"
    )


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    status: int,
    title: str,
    detail: str,
    type_slug: str,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response; ``type`` becomes ``/problems/<type_slug>``."""
    body: dict[str, Any] = {
        "type": f"/problems/{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [dict(error) for error in errors]
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem+json bodies for ``statuses``.

    Where a body is validated (422), a body that is not even decodable JSON is a 400, so
    422 brings 400 with it.
    """
    if 422 in statuses and 400 not in statuses:
        statuses = (400, *statuses)
    return {
        status: {
            "model": Problem,
            "description": _RESPONSE_DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in sorted(statuses)
    }


_RESPONSE_DESCRIPTIONS = {
    400: "Malformed request: the body could not be decoded",
    406: "None of the media types in Accept can be produced; the detail lists those that can",
    413: "Work above a synchronous limit: the detail names the limit; submit it to /v1/jobs",
    422: "Invalid input: `errors` names each bad field, or the numbers cannot be computed",
    503: "Service saturated or a worker failed: retry after Retry-After seconds",
    504: "The computation exceeded the request timeout: submit it to /v1/jobs",
}


def field_path(loc: Sequence[int | str], tag: object = None) -> str:
    """``("body", "x1", 3, 0)`` -> ``"x1[3][0]"``; pydantic's union-member tags are dropped,
    and so is ``tag``, the body's discriminator value, where pydantic puts it first
    (``("body", "kernels", "request", "x1")`` -> ``"request.x1"`` for a job of kind kernels)."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    if parts and tag is not None and parts[0] == tag:
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "literal[", "tagged-union[")) or part in (
            "int",
            "float",
            "str",
            "constrained-int",
        ):
            continue
        else:
            path += f".{part}" if path else part
    return path or "body"


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """One entry per bad field (the first message wins when a union reports several)."""
    seen: dict[str, dict[str, str]] = {}
    tag = exc.body.get("kind") if isinstance(exc.body, dict) else None
    for error in exc.errors():
        field = field_path(error.get("loc", ()), tag)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if error.get("type") == "missing":
            message = "this field is required"
        elif error.get("type") == "json_invalid":
            field = "body"
            message = f"the body is not valid JSON: {error.get('ctx', {}).get('error', message)}"
        seen.setdefault(field, {"field": field, "message": message, "type": error["type"]})
    return list(seen.values())


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeepKernelError)
    errors, detail = None, exc.detail
    if exc.field is not None:
        errors = [{"field": exc.field, "message": exc.detail, "type": exc.slug}]
        detail = detail if exc.field in detail else f"{exc.field}: {detail}"
    headers = getattr(exc, "headers", None)  # e.g. Retry-After on service errors
    return problem_response(exc.status, exc.title, detail, exc.slug, errors=errors, headers=headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    summary = "; ".join(f"{error['field']}: {error['message']}" for error in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return problem_response(
        422,
        "Invalid request",
        f"The request body is invalid. {summary}{more}",
        "validation-error",
        errors=errors,
    )


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = _HTTP_TITLES.get(exc.status_code, "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    slug = title.lower().replace(" ", "-")
    return problem_response(exc.status_code, title, detail, slug, headers=exc.headers)


_HTTP_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "Service unavailable",
    504: "Gateway timeout",
}


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        500,
        "Internal error",
        "The service failed on this request. This is a bug on our side; it has been logged.",
        "internal-error",
    )


def install_exception_handlers(app: FastAPI) -> None:
    """Render domain errors, validation errors, HTTP errors and bugs as problem+json."""
    app.add_exception_handler(DeepKernelError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected_error)
