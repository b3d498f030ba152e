"""The app over HTTP: ops endpoints, middlewares, failures of the pool as problem+json.

A test-only router (tests/service/fake_app.py, never in production) sends the fake kinds
of tests/service/fake_tasks.py through the real ComputeService and worker pool.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from service.cli import main
from service.logs import JsonFormatter
from service.settings import Settings
from tests.conftest import open_client
from tests.service.fake_app import assert_problem, fake_app, until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with open_client(fake_app(settings)) as client:
        yield client


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok" and body["cache"]["redis"] is None
    assert body["pool"]["workers"] == 2 and body["pool"]["queue_size"] == 4


async def test_request_id_is_echoed_or_made(http: httpx.AsyncClient) -> None:
    given = await http.get("/healthz", headers={"X-Request-ID": "abc-123.def"})
    assert given.headers["x-request-id"] == "abc-123.def"
    made = await http.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    unsafe = await http.get("/healthz", headers={"X-Request-ID": "two words"})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])
    problem = await http.post("/v1/fake-compute/fail", json={"detail": "no", "field": "x"})
    assert "x-request-id" in problem.headers


async def test_access_logs_are_json_lines_with_the_request_id(http: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("deepkernel.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        await http.post("/v1/fake-compute/echo", json={}, headers={"X-Request-ID": "log-1"})
    finally:
        access.removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["request_id"] == "log-1" and entry["message"] == "request"
    assert (entry["method"], entry["route"], entry["status"]) == (
        "POST",
        "/v1/fake-compute/{kind}",
        200,
    )
    assert entry["path"] == "/v1/fake-compute/echo" and entry["duration_ms"] > 0
    assert entry["level"] == "info" and entry["time"].endswith("Z")


async def test_results_errors_and_cache_header(http: httpx.AsyncClient) -> None:
    first = await http.post("/v1/fake-compute/echo", json={"value": 7, "n": 2})
    assert first.json() == {"value": 7, "array": [0.0, 1 / 3]}
    assert first.headers["x-cache"] == "miss"
    again = await http.post("/v1/fake-compute/echo", json={"n": 2, "value": 7})
    assert again.headers["x-cache"] == "hit" and again.json() == first.json()
    body = assert_problem(
        await http.post("/v1/fake-compute/fail", json={"detail": "too deep", "field": "depth"}),
        422,
        "invalid-input",
    )
    assert "too deep" in body["detail"] and body["errors"][0]["field"] == "depth"


async def test_identical_concurrent_requests_compute_once(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    body = {"seconds": 0.3, "calls_file": str(calls)}
    responses = await asyncio.gather(
        *(http.post("/v1/fake-compute/sleep", json=body) for _ in range(6))
    )
    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.json()["pid"] for r in responses}) == 1
    assert calls.read_text() == "sleep\n"  # one computation in the workers, not six
    assert (await http.post("/v1/fake-compute/sleep", json=body)).headers["x-cache"] == "hit"


async def test_a_killed_worker_fails_its_request_and_the_next_succeeds(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    pending = asyncio.create_task(
        http.post("/v1/fake-compute/sleep", json={"seconds": 60, "pid_file": str(pid_file)})
    )
    await until(lambda: asyncio.sleep(0, pid_file.exists()))
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    response = await pending
    body = assert_problem(response, 503, "worker-crashed")
    assert "signal 9" in body["detail"] and response.headers["retry-after"] == "1"
    after = await http.post("/v1/fake-compute/echo", json={"value": "next"})
    assert after.status_code == 200 and after.json()["value"] == "next"


async def test_a_timeout_is_504_and_really_stops_the_work(
    settings: Settings, tmp_path: Path
) -> None:
    # 5 s: a worker's cold start on a loaded machine can take over a second, and the task
    # must have begun (written its pid) when the timeout strikes
    async with open_client(fake_app(settings, request_timeout_seconds=5.0)) as http:
        pid_file = tmp_path / "pid"
        response = await http.post(
            "/v1/fake-compute/sleep", json={"seconds": 60, "pid_file": str(pid_file)}
        )
        body = assert_problem(response, 504, "timeout")
        assert "5 s" in body["detail"] and "/v1/jobs" in body["detail"]
        killed = int(pid_file.read_text())

        async def replaced() -> bool:
            pids = (await http.get("/fake-pool")).json()["pids"]
            return len(pids) == 2 and killed not in pids

        await until(replaced)
        with pytest.raises(ProcessLookupError):
            os.kill(killed, 0)
        metrics = (await http.get("/metrics")).text
        assert "deepkernel_worker_restarts_total 1.0" in metrics
        ok = await http.post("/v1/fake-compute/sleep", json={"seconds": 0.05})
        assert ok.status_code == 200


async def test_saturation_is_503_with_retry_after(http: httpx.AsyncClient) -> None:
    busy = [
        asyncio.create_task(http.post("/v1/fake-compute/sleep", json={"seconds": 1, "tag": i}))
        for i in range(4)
    ]

    async def full() -> bool:
        pool = (await http.get("/readyz")).json()["pool"]
        return bool(pool["running"] == 2 and pool["waiting"] == 2)

    await until(full)
    metrics = (await http.get("/metrics")).text
    assert "deepkernel_queue_depth 2.0" in metrics
    response = await http.post("/v1/fake-compute/echo", json={"value": 1})
    assert_problem(response, 503, "saturated")
    assert response.headers["retry-after"] == "1"
    assert all(r.status_code == 200 for r in await asyncio.gather(*busy))


async def test_metrics_are_exposed(http: httpx.AsyncClient) -> None:
    for _ in range(2):
        await http.post("/v1/fake-compute/echo", json={"value": "m"})
    response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in [
        'deepkernel_http_request_duration_seconds_count{method="POST",'
        'route="/v1/fake-compute/{kind}",status="200"} 2.0',
        'deepkernel_cache_hits_total{backend="memory"} 1.0',
        'deepkernel_cache_misses_total{backend="memory"} 1.0',
        'deepkernel_compute_duration_seconds_count{kind="echo",outcome="ok"} 1.0',
        "deepkernel_queue_depth 0.0",
        "deepkernel_workers_alive 2.0",
        "deepkernel_worker_restarts_total 0.0",
    ]:
        assert line in text, line


async def test_api_keys_guard_v1_only(settings: Settings) -> None:
    async with open_client(fake_app(settings, api_keys=frozenset({"k1", "k2"}))) as http:
        path, body = "/v1/fake-compute/echo", {"value": 1}
        missing = assert_problem(await http.post(path, json=body), 401, "unauthorized")
        assert "X-API-Key" in missing["detail"]
        assert_problem(
            await http.post(path, json=body, headers={"X-API-Key": "k3"}), 401, "unauthorized"
        )
        for key in ("k1", "k2"):
            assert (await http.post(path, json=body, headers={"X-API-Key": key})).status_code == 200
        for open_path in ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json"):
            assert (await http.get(open_path)).status_code == 200, open_path


async def test_body_limit_by_length_and_while_streaming(http: httpx.AsyncClient) -> None:
    limit = 2**20
    declared = await http.post(
        "/v1/fake-compute/echo",
        content=b"x" * (limit + 1),
        headers={"content-type": "application/json"},
    )
    body = assert_problem(declared, 413, "content-too-large")
    assert str(limit) in body["detail"] and "DEEPKERNEL_MAX_BODY_BYTES" in body["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"value": "'
        for _ in range(8):
            yield b"y" * (limit // 4)
        yield b'"}'

    streamed = await http.post(
        "/v1/fake-compute/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "content-too-large")
    small = await http.post("/v1/fake-compute/echo", json={"value": "y" * 1000})
    assert small.status_code == 200


async def test_docs_use_only_local_assets(http: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await http.get(page)).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert urls, page
        assert "http://" not in html and "https://" not in html, page
        for url in urls:
            assert url.startswith("/docs/assets/"), url
            asset = await http.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
        assert "/openapi.json" in html
    spec = (await http.get("/openapi.json")).json()
    assert spec["paths"]["/readyz"]["get"]["operationId"] == "readyz"
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    v1 = [  # the production routes (the test's own fake route is not behind the scheme)
        op
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/") and not path.startswith("/v1/fake-")
        for op in ops.values()
    ]
    assert v1 and all(op["security"] == [{"ApiKey": []}] and "401" in op["responses"] for op in v1)
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_openapi_command_writes_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "openapi.json"
    assert main(["openapi", "--output", str(path)]) == 0
    text = path.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "openapi"')
    assert main(["openapi", "--check", str(path)]) == 0
    path.write_text(text.replace('"Liveness"', '"Alive"'))
    assert main(["openapi", "--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert '-        "summary": "Alive",' in err
    assert f"deepkernel openapi --output {path}" in err
