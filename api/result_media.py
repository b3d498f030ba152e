"""Per kind of computation: the media types its result is offered in, and the result fields
where NaN means "does not exist" (rendered as JSON null). One table for the synchronous
endpoints and for the results of jobs."""

from __future__ import annotations

from dataclasses import dataclass

from api.negotiation import JSON, NPZ, PNG


@dataclass(frozen=True)
class ResultMedia:
    offered: tuple[str, ...]
    nullable: frozenset[str] = frozenset()


RESULT_MEDIA: dict[str, ResultMedia] = {
    "fixed-points": ResultMedia((JSON,)),
    "kernels": ResultMedia((JSON, NPZ)),
    "phase-diagram": ResultMedia(
        (JSON, NPZ, PNG), frozenset({"chi_1", "chi_c_star", "q_star", "c_star", "xi_c_star"})
    ),
    "predictions": ResultMedia((JSON, NPZ, PNG)),
    "spectra": ResultMedia(
        (JSON, NPZ, PNG),
        frozenset(
            {
                f"{kernel}.{field}"
                for kernel in ("ntk", "nngp")
                for field in ("log10_lambda_min", "log10_condition_number")
            }
            | {"theory"}
        ),
    ),
    "sweeps": ResultMedia(
        (JSON, NPZ, PNG),
        frozenset(
            {"test_accuracy", "log10_condition_number", "chi_1", "chi_c_star", "xi_1", "xi_star"}
        ),
    ),
}
