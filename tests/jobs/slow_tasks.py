"""A test-only runner: the real tasks, slowed down at each progress report, plus one failure.

Selected with ``runner="tests.jobs.slow_tasks:execute"``. Every progress report (per grid row
of a numerical activation's phase diagram) sleeps ``DELAY_SECONDS`` first, so a job lasts long
enough to be watched, cancelled or have its worker killed. A fixed-points request with
``sigma_b2 == FAILING_SIGMA_B2`` raises a core error, standing in for a computation that fails.
When the environment variable ``STEPS_FILE_VARIABLE`` names a file, each report appends a
line to it, so a test can see whether work goes on after a cancellation.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import NumericalError
from service.tasks import execute as real_execute

DELAY_SECONDS = 0.25
FAILING_SIGMA_B2 = 0.777
STEPS_FILE_VARIABLE = "DEEPKERNEL_TEST_STEPS_FILE"


def execute(
    kind: str, request: Mapping[str, Any], progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    if kind == "fixed-points" and request["sigma_b2"] == FAILING_SIGMA_B2:
        raise NumericalError("a stand-in failure of the core", field="sigma_b2")

    steps_file = os.environ.get(STEPS_FILE_VARIABLE)

    def slow(fraction: float) -> None:
        time.sleep(DELAY_SECONDS)
        if steps_file:
            with open(steps_file, "a") as handle:
                handle.write(f"{kind} {fraction}\n")
        if progress is not None:
            progress(fraction)

    return real_execute(kind, request, progress=slow)
