"""The Dockerfile and docker-compose.yml cannot silently rot.

No Docker engine runs on these machines, so these tests parse both files, check that every
module, console script, settings variable, path and port they name exists in the project,
and run the exact commands they run (the image's CMD and HEALTHCHECK, the Redis command).
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from service.settings import Settings
from tests.live_server import console_script, free_port, live_server, wait_for_redis

ROOT = Path(__file__).resolve().parents[1]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a line continuation"
    return [(w.split(None, 1)[0].upper(), w.split(None, 1)[1]) for w in logical]


def exec_form(arguments: str) -> list[str]:
    words = json.loads(arguments)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words)
    return words


def instruction(name: str) -> list[str]:
    return [args for inst, args in dockerfile_instructions() if inst == name]


def settings_env_names() -> set[str]:
    """Every environment variable Settings reads (upper-cased; pydantic-settings ignores case)."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add((prefix + field_name).upper())
    return names


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def cmd_port(cmd: list[str]) -> int:
    return int(cmd[cmd.index("--port") + 1])


# -- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_base_is_slim_python_and_user_is_not_root() -> None:
    (base,) = instruction("FROM")
    assert base.startswith("python:3.") and base.endswith("-slim")
    (user,) = instruction("USER")
    assert user not in {"root", "0"}
    assert any("useradd" in run and user in run for run in instruction("RUN"))


def test_dockerfile_copies_only_paths_that_exist_and_installs_the_three_packages() -> None:
    copied: set[str] = set()
    for args in instruction("COPY"):
        *sources, _dest = args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
            copied.add(source)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in packages:
        assert package.rstrip("*") in copied, f"the image lacks the package {package}"
    assert pyproject["project"]["readme"] in copied


def test_dockerfile_cmd_is_the_console_script_and_its_port_is_exposed() -> None:
    (cmd_args,) = instruction("CMD")
    cmd = exec_form(cmd_args)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert cmd[0] in scripts, f"CMD runs {cmd[0]}, which is no console script"
    module, _, function = scripts[cmd[0]].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    assert cmd[1] == "serve"
    (exposed,) = instruction("EXPOSE")
    assert int(exposed) == cmd_port(cmd)


def test_dockerfile_env_names_are_settings() -> None:
    known = settings_env_names()
    for args in instruction("ENV"):
        for assignment in shlex.split(args):
            name = assignment.split("=", 1)[0]
            if name.startswith("DEEPKERNEL_"):
                assert name in known, f"Dockerfile sets {name}, which Settings does not read"


@pytest.fixture
def served_like_the_image() -> Iterator[int]:
    """Start the image's CMD, as written but on a free loopback port of this machine."""
    cmd = exec_form(instruction("CMD")[0])
    port = free_port()
    cmd[cmd.index("--port") + 1] = str(port)
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    with live_server([console_script(cmd[0]), *cmd[1:]], port, {"DEEPKERNEL_WORKERS": "1"}):
        yield port


def test_image_cmd_serves_and_its_healthcheck_passes(
    served_like_the_image: int,
) -> None:
    port = served_like_the_image
    (health_args,) = instruction("HEALTHCHECK")
    health_cmd = exec_form(health_args.split(" CMD ", 1)[1].strip())
    original_port = cmd_port(exec_form(instruction("CMD")[0]))
    health_cmd = [w.replace(f":{original_port}/", f":{port}/") for w in health_cmd]
    assert health_cmd[0] == "python"
    result = subprocess.run([sys.executable, *health_cmd[1:]], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode()


# -- docker-compose.yml -------------------------------------------------------------------


def test_compose_api_builds_this_image_and_maps_its_port() -> None:
    api = compose()["services"]["api"]
    assert api["build"] == "."
    cmd = exec_form(instruction("CMD")[0])
    targets = {int(str(p).rsplit(":", 1)[1]) for p in api["ports"]}
    assert targets == {cmd_port(cmd)}


def test_compose_environment_names_are_settings() -> None:
    known = settings_env_names()
    for service in compose()["services"].values():
        for name in service.get("environment", {}):
            if name.startswith("DEEPKERNEL_") or name == "REDIS_URL":
                assert name in known, f"compose sets {name}, which Settings does not read"


def test_compose_environment_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in compose()["services"]["api"]["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.redis_url == compose()["services"]["api"]["environment"]["REDIS_URL"]


def test_compose_health_checks_and_start_order() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert "healthcheck" in service, f"service {name} has no healthcheck"
    assert services["api"]["depends_on"]["redis"]["condition"] == "service_healthy"
    (health_args,) = instruction("HEALTHCHECK")
    image_check = exec_form(health_args.split(" CMD ", 1)[1].strip())
    assert services["api"]["healthcheck"]["test"] == ["CMD", *image_check]


def test_compose_redis_is_a_bounded_lru_cache_without_persistence() -> None:
    command = compose()["services"]["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert command[0] == "redis-server"
    assert options["--maxmemory-policy"] == "allkeys-lru"
    assert options["--maxmemory"].endswith(("mb", "gb"))
    assert options["--save"] == ""
    assert options["--appendonly"] == "no"


def test_compose_redis_command_runs_as_written() -> None:
    """The exact Redis command of the compose file, on a free port of this machine."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required in CI")
        pytest.skip("redis-server is not installed on this machine")

    command = compose()["services"]["redis"]["command"]
    port = free_port()
    proc = subprocess.Popen(
        [server, *command[1:], "--port", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = wait_for_redis(port)
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
        options = dict(zip(command[1::2], command[2::2], strict=True))
        size, unit = int(options["--maxmemory"][:-2]), options["--maxmemory"][-2:]
        expected = size * {"mb": 1024**2, "gb": 1024**3}[unit]
        assert int(client.config_get("maxmemory")["maxmemory"]) == expected
        assert client.config_get("appendonly")["appendonly"] == "no"
        assert client.config_get("save")["save"] == ""
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the Dask services ----------------------------------------------------------------------


def _substitute(words: list[str], mapping: dict[str, str]) -> list[str]:
    return [mapping.get(word, word) for word in words]


def test_compose_dask_services_start_in_order_and_the_worker_scales() -> None:
    services = compose()["services"]
    scheduler, worker, api = services["dask-scheduler"], services["dask-worker"], services["api"]
    assert api["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"
    assert worker["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"
    for service in (scheduler, worker):
        assert service["build"] == "." and service["image"] == api["image"]
        assert service["healthcheck"]["test"][0] == "CMD"
    # --scale dask-worker=N: no fixed name, no host port, no state
    assert "container_name" not in worker and "ports" not in worker and "volumes" not in worker
    port = cmd_port(scheduler["command"])
    assert api["environment"]["DEEPKERNEL_DASK_SCHEDULER"] == f"tcp://dask-scheduler:{port}"
    assert f"tcp://dask-scheduler:{port}" in worker["command"]
    assert worker["command"][worker["command"].index("--nthreads") + 1] == "1"


def test_compose_dask_commands_run_as_written() -> None:
    """The scheduler and worker commands and health checks of the compose file, on loopback
    ports of this machine; then the api's Dask backend computes on them."""
    import asyncio

    from service.dask_backend import DaskBackend
    from service.tasks import execute

    services = compose()["services"]
    scheduler, worker = services["dask-scheduler"], services["dask-worker"]
    port, http_port, worker_http = free_port(), free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler_cmd = _substitute(
        scheduler["command"],
        {"0.0.0.0": "127.0.0.1", "8786": str(port), ":8787": f"127.0.0.1:{http_port}"},
    )
    worker_cmd = _substitute(
        worker["command"],
        {"tcp://dask-scheduler:8786": address, ":8789": f"127.0.0.1:{worker_http}"},
    )
    worker_cmd += ["--host", "127.0.0.1"]  # the container's own address, here loopback
    scheduler_check = [
        w.replace(":8787/", f":{http_port}/") for w in scheduler["healthcheck"]["test"][1:]
    ]
    worker_check = [
        w.replace(":8789/", f":{worker_http}/") for w in worker["healthcheck"]["test"][1:]
    ]
    assert scheduler_check[0] == worker_check[0] == "python"
    env = {**os.environ, **{k: str(v) for k, v in worker.get("environment", {}).items()}}
    processes = []

    def wait_healthy(check: list[str], proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 60
        while subprocess.run([sys.executable, *check[1:]], capture_output=True).returncode:
            assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"{check} never passed"
            time.sleep(0.3)

    try:
        processes.append(
            subprocess.Popen(
                [console_script("dask"), *scheduler_cmd[1:]], stderr=subprocess.DEVNULL
            )
        )
        wait_healthy(scheduler_check, processes[0])
        processes.append(
            subprocess.Popen(
                [console_script("dask"), *worker_cmd[1:]], env=env, stderr=subprocess.DEVNULL
            )
        )
        wait_healthy(worker_check, processes[1])

        request = {"activation": {"name": "erf"}, "sigma_w2": 1.5, "sigma_b2": 0.1}

        async def compute() -> Any:
            backend = DaskBackend(address, queue_size=2)
            await backend.start()
            try:
                return await backend.run("fixed-points", request, timeout=60)
            finally:
                await backend.close()

        assert asyncio.run(compute()) == execute("fixed-points", request)
    finally:
        for proc in reversed(processes):
            proc.terminate()
            proc.wait(timeout=30)
