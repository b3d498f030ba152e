"""One running app (real worker pool, small limits) shared by the API tests of a session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from service.app import create_app
from service.settings import Settings

LIMITS = {"max_points": 120, "max_depth": 5000, "max_work": 5e7}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def api_settings() -> Settings:
    return Settings(workers=2, request_timeout_seconds=120, redis_url=None, **LIMITS)


@pytest.fixture(scope="session")
def api_app(api_settings: Settings) -> FastAPI:
    """The app (for dependency overrides); requests go through ``api_asgi``."""
    return create_app(api_settings)


@pytest.fixture(scope="session")
async def api_asgi(api_app: FastAPI) -> AsyncIterator[ASGIApp]:
    """The app with its lifespan running (worker pool, cache) and its state attached."""
    async with LifespanManager(api_app, startup_timeout=60, shutdown_timeout=30) as manager:
        yield manager.app


@pytest.fixture(scope="session")
async def api_client(api_asgi: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api_asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://deepkernel") as client:
        yield client
