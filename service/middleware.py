"""Pure-ASGI middlewares (no ``BaseHTTPMiddleware``: they do not buffer or re-task).

Order, outermost first, as :func:`service.app.create_app` installs them:
  1. :class:`RequestIdMiddleware` - every response, even a rejection, carries X-Request-ID;
  2. :class:`AccessMiddleware` - one JSON log line and one latency observation per request;
  3. :class:`BodyLimitMiddleware` - 413 before a too large body is read into memory;
  4. :class:`ApiKeyMiddleware` - 401 for /v1/* without a valid X-API-Key (when keys are set).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from service.logs import request_id_var
from service.metrics import Metrics

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_logger = logging.getLogger("deepkernel.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestIdMiddleware:
    """Accept a well-formed ``X-Request-ID`` or make one; echo it; expose it to logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = given if given and _VALID_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class AccessMiddleware:
    """Log each request and observe its latency by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.request_seconds.labels(scope["method"], route, str(status)).observe(
                seconds
            )
            access_logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when the streamed body passes the limit."""


class BodyLimitMiddleware:
    """413 problem+json for bodies above ``max_bytes``: by Content-Length, or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.detail = (
            f"The request body exceeds the limit of {max_bytes} bytes "
            f"({max_bytes / 2**20:g} MiB, setting DEEPKERNEL_MAX_BODY_BYTES); "
            "send less data per request."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0
        tripped = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, tripped
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    tripped = True
                    raise BodyTooLargeError(413, self.detail)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if tripped and message["status"] != 413:
                    raise BodyTooLargeError(413, self.detail)
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLargeError:
            if started and not tripped:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, "Content too large", self.detail, "content-too-large")
        await response(scope, receive, send)


class ApiKeyMiddleware:
    """Require ``X-API-Key`` among ``keys`` for paths under ``/v1/``; other paths stay open."""

    def __init__(self, app: ASGIApp, keys: Iterable[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        given = (_header(scope, b"x-api-key") or "").encode("latin-1")
        # compare with every key, so the time taken does not tell which one is close
        valid = sum(hmac.compare_digest(given, key) for key in self.keys) > 0
        if valid:
            await self.app(scope, receive, send)
            return
        detail = (
            "This endpoint needs a valid API key in the X-API-Key header."
            if not given
            else "The API key in the X-API-Key header is not valid."
        )
        response = problem_response(
            401, "Unauthorized", detail, "unauthorized", headers={"WWW-Authenticate": "ApiKey"}
        )
        await response(scope, receive, send)
