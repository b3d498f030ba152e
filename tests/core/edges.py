"""The edge check every closed-form activation passes: finite, non-negative deficits and no
warnings at variances from 0 to 1e300, cosines past ±1 and deficits outside [0, 2]."""

from __future__ import annotations

import warnings

import numpy as np

from core.activations import Activation


def assert_finite_at_the_edges(act: Activation) -> None:
    q = np.array([0.0, 1e-300, 1e-8, 0.5, 1.0, 700.0, 1e5, 1e300])
    q1, q2 = np.meshgrid(q, q)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow, 0/0 and log(0) fail here
        for values in (act.variance(q), act.variance_slope(q), act.derivative_variance(q)):
            assert np.all(np.isfinite(values))
        root = np.sqrt(q1) * np.sqrt(q2)
        for c in (-1.0, -0.5, 0.0, 1.0 - 1e-16, 1.0, 1.5):  # 1.5: q12 beyond Cauchy–Schwarz
            assert np.all(np.isfinite(act.correlation(q1, q2, c * root)))
            assert np.all(np.isfinite(act.derivative_correlation(q1, q2, c * root)))
        for delta in (0.0, 1e-300, 1e-20, 1.0, 2.0, 2.5, -1e-3):
            for gap in (
                act.correlation_deficit(q1, q2, delta),
                act.derivative_correlation_deficit(q1, q2, delta),
            ):
                assert np.all(np.isfinite(gap)) and np.all(gap >= 0.0)
        for part in act.small_deficit_slopes(q1, q2)[:2]:
            assert np.all(np.isfinite(part)) and np.all(part >= 0.0)
