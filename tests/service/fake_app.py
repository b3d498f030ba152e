"""Test-only HTTP plumbing: a router that runs the fake kinds of fake_tasks.py through the
real ComputeService and worker pool, and small assertion helpers. Never used in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from service.app import create_app
from service.deps import ComputeDep, SettingsDep
from service.settings import Settings

FAKE_RUNNER = "tests.service.fake_tasks:execute"
PROBLEM = "application/problem+json"

fake_router = APIRouter()


@fake_router.post("/v1/fake-compute/{kind}")
async def compute_fake(kind: str, body: dict[str, Any], compute: ComputeDep) -> JSONResponse:
    outcome = await compute.run(kind, body)
    result = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in outcome.result.items()}
    return JSONResponse(result, headers={"X-Cache": outcome.cache})


@fake_router.get("/fake-pool")
async def pool_pids(request: Request, settings: SettingsDep) -> dict[str, Any]:
    return {"pids": sorted(request.state.pool.pids()), "workers": settings.workers}


def fake_app(settings: Settings, **changes: Any) -> FastAPI:
    app = create_app(settings.model_copy(update=changes), runner=FAKE_RUNNER)
    app.include_router(fake_router)
    return app


async def until(check: Callable[[], Any], limit: float = 30.0) -> Any:
    """Poll the async ``check()`` until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not (found := await check()):
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)
    return found


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    assert body["title"] and body["detail"]
    return body
