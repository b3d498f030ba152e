"""A Redis of the test's own is killed mid-test: the service keeps answering, /readyz says
"degraded", and once Redis is back the service reconnects and stores results there again."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator

import pytest
import redis

from service.settings import Settings
from tests.conftest import open_client
from tests.live_server import wait_for_redis
from tests.service.fake_app import fake_app, until

pytestmark = pytest.mark.anyio
PREFIX = "deepkernel-outage-test:"
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``redis-server`` on a port of its own, without persistence."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *NO_PERSISTENCE],
            stdout=subprocess.DEVNULL,
        )
        wait_for_redis(self.port).close()

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def keys(self) -> list[bytes]:
        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return list(client.scan_iter(match=PREFIX + "*"))
        finally:
            client.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required in CI")
        pytest.skip("redis-server is not installed")
    server = RedisServer(binary, free_port())
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


async def test_redis_outage_degrades_then_recovers(
    settings: Settings, redis_server: RedisServer
) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    app = fake_app(settings, redis_url=url, redis_prefix=PREFIX)
    async with open_client(app) as http:

        async def echo(value: int) -> str:
            response = await http.post("/v1/fake-compute/echo", json={"value": value})
            assert response.status_code == 200 and response.json()["value"] == value
            return response.headers["x-cache"]

        async def readiness() -> str:
            response = await http.get("/readyz")
            assert response.status_code == 200
            return str(response.json()["status"])

        assert await echo(1) == "miss"
        assert len(redis_server.keys()) == 1
        assert await readiness() == "ok"

        redis_server.kill()
        assert await echo(2) == "miss"  # computed without Redis
        assert await echo(2) == "hit"  # from the in-process LRU
        assert await echo(3) == "miss"
        assert await readiness() == "degraded"
        ready = (await http.get("/readyz")).json()
        assert ready["cache"]["redis"]["state"] == "unavailable"

        redis_server.start()  # same port, empty (no persistence)

        async def recovered() -> bool:
            return await readiness() == "ok"

        await until(recovered)
        assert await echo(4) == "miss"
        assert len(redis_server.keys()) == 1  # stored in Redis again
        metrics = (await http.get("/metrics")).text
        assert 'deepkernel_cache_misses_total{backend="redis"}' in metrics
