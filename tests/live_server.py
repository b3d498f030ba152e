"""Real servers for the tests: the installed ``deepkernel`` console script, a redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def console_script(name: str) -> str:
    """The path of a console script installed beside this interpreter."""
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        raise FileNotFoundError(f"console script {name} is not installed")
    return path


@contextmanager
def live_server(
    argv: list[str], port: int, env: Mapping[str, str] | None = None, timeout: float = 60
) -> Iterator[str]:
    """Start ``argv`` (a server listening on ``port``); yield its base URL once /healthz answers."""
    # The embedded defaults unless the caller configures otherwise: REDIS_URL is not inherited.
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environment.update(env or {})
    proc = subprocess.Popen(
        argv, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{argv} exited with {proc.returncode}: {stderr}")
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{argv} did not answer /healthz in {timeout} s") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_redis(port: int, timeout: float = 10) -> redis.Redis:
    """A client of the redis-server starting on loopback ``port``, once it answers PING."""
    client = redis.Redis(port=port, socket_timeout=2)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on port {port} did not start") from None
            time.sleep(0.02)
