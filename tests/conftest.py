"""Shared fixtures: small settings, the app, an in-process HTTP client, Redis.

Redis policy: tests that need Redis are marked ``@pytest.mark.redis`` and read ``REDIS_URL``.
Without ``REDIS_URL`` they skip, saying why; when ``CI=true`` a missing or unreachable Redis
fails them instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import NoReturn

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings

IN_CI = os.environ.get("CI") == "true"


def redis_unavailable(reason: str) -> NoReturn:
    """Skip outside CI, fail in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: Redis tests must run)")
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and item.get_closest_marker("redis") is not None:
            item.fixturenames.insert(0, "redis_url")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """``REDIS_URL``, checked to answer a PING."""
    url = os.environ.get("REDIS_URL")
    if not url:
        redis_unavailable("REDIS_URL is not set; set it to run the Redis tests")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        redis_unavailable(f"Redis at {url} does not answer: {exc!r}")
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys (and only them) are deleted afterwards."""
    prefix = f"deepkernel-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def settings() -> Settings:
    """Small limits, 2 workers, no Redis, no API keys (explicit values beat the environment)."""
    return Settings(
        workers=2,
        blas_threads=1,
        queue_size=4,
        request_timeout_seconds=30,
        redis_url=None,
        cache_max_bytes=16 * 2**20,
        max_points=200,
        max_depth=1000,
        max_work=2e7,
        max_body_bytes=2**20,
        api_keys="",
        log_level="info",
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@asynccontextmanager
async def open_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ``app`` with its lifespan running (worker pool up)."""
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
        ) as http,
    ):
        yield http


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the ``app`` fixture, lifespan running."""
    async with open_client(app) as http:
        yield http
