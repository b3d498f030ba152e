"""service.tasks.split/merge: the parts of a job computed apart and merged equal the whole."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from api.schemas.phase_diagram import PhaseDiagramRequest
from api.schemas.sweeps import SweepsRequest
from service.tasks import execute, merge, split


def assert_same_result(whole: dict[str, Any], merged: dict[str, Any]) -> None:
    assert merged.keys() == whole.keys()
    for name, expected in whole.items():
        got = merged[name]
        if isinstance(expected, np.ndarray):
            assert got.shape == expected.shape, name
            if expected.dtype.kind in "fc":  # a vectorised root solve may differ by rounding
                np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True, err_msg=name)
            else:
                np.testing.assert_array_equal(got, expected, err_msg=name)
        elif isinstance(expected, dict):
            assert_same_result(expected, got)
        else:
            assert got == expected, name


@pytest.mark.parametrize("parts", [2, 3, 50])
def test_a_phase_diagram_split_into_row_blocks_merges_into_the_whole(parts: int) -> None:
    request = PhaseDiagramRequest.model_validate(
        {
            "activation": "erf",
            "sigma_w2": {"start": 0.5, "stop": 3.0, "num": 9},
            "sigma_b2": {"start": 0.0, "stop": 0.4, "num": 7},
        }
    ).canonical()
    pieces = split("phase-diagram", request, parts)
    assert len(pieces) == min(parts, 7)
    assert sum(len(piece["sigma_b2"]) for piece in pieces) == 7
    merged = merge("phase-diagram", request, [execute("phase-diagram", p) for p in pieces])
    assert_same_result(execute("phase-diagram", request), merged)


def test_a_sweep_split_into_sigma_w2_blocks_merges_into_the_whole() -> None:
    request = SweepsRequest.model_validate(
        SweepsRequest.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    ).canonical()
    request["sigma_w2"] = {"start": 0.5, "stop": 4.0, "num": 5}
    request["depths"] = [1, 3, 10]
    pieces = split("sweeps", request, 3)
    assert [len(piece["sigma_w2"]) for piece in pieces] == [2, 1, 2]
    merged = merge("sweeps", request, [execute("sweeps", p) for p in pieces])
    assert_same_result(execute("sweeps", request), merged)


def test_kinds_without_a_splitter_run_whole() -> None:
    request = {"activation": {"name": "erf"}, "sigma_w2": 1.5, "sigma_b2": 0.1}
    assert split("fixed-points", request, 8) == [request]
