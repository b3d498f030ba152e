"""The README stays true: its quick-start commands work as printed, its settings table is whole."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.settings import Settings, env_name
from tests.live_server import console_script, free_port, live_server

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCUMENTED_BASE = "http://127.0.0.1:8000"


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def quickstart_commands() -> list[str]:
    """Every shell command of the Quick start section, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", section("Quick start"), flags=re.S)
    return [block.strip() for block in blocks]


def test_every_setting_is_in_the_settings_table() -> None:
    table = section("Settings")
    for field in Settings.model_fields:
        assert f"`{env_name(field)}`" in table, f"README's settings table lacks {env_name(field)}"


def test_the_two_commands_are_the_makefile_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for command in ("make serve", "make test"):
        assert command in section("The two commands")
        assert re.search(rf"^{command.split()[1]}:", makefile, flags=re.M)


@pytest.fixture(scope="module")
def documented_server() -> Iterator[str]:
    port = free_port()
    argv = [console_script("deepkernel"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with live_server(argv, port, {"DEEPKERNEL_WORKERS": "1"}) as base:
        yield base


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("command", quickstart_commands(), ids=lambda c: c.split("\n")[0][:60])
def test_quickstart_command_works_as_printed(
    command: str, documented_server: str, tmp_path: Path
) -> None:
    assert command.startswith("curl ") and DOCUMENTED_BASE in command
    result = subprocess.run(
        ["bash", "-c", command.replace(DOCUMENTED_BASE, documented_server)],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    saved = re.search(r"-o (\S+)", command)
    if saved is None:
        body = json.loads(result.stdout)
        assert isinstance(body, dict) and body
    elif saved.group(1).endswith(".png"):
        assert (tmp_path / saved.group(1)).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    else:
        arrays = np.load(io.BytesIO((tmp_path / saved.group(1)).read_bytes()))
        assert all(
            np.all(np.isfinite(arrays[name]))
            for name in arrays.files
            if arrays[name].dtype.kind == "f"
        )


def test_quickstart_fixed_point_matches_the_closed_forms_it_quotes(documented_server: str) -> None:
    """The relu example's numbers are the closed forms the README states beside it."""
    (command,) = [c for c in quickstart_commands() if "/v1/fixed-points" in c]
    result = subprocess.run(
        ["bash", "-c", command.replace(DOCUMENTED_BASE, documented_server)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    body = json.loads(result.stdout)
    assert body["phase"] == "ordered"
    assert body["chi_1"] == pytest.approx(0.75, rel=1e-15)
    assert body["q_star"] == pytest.approx(0.4, rel=1e-14)
    assert body["p_star"] == pytest.approx(1.6, rel=1e-14)
