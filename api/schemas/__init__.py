"""Request and response models of the v1 API, one module per endpoint."""

from __future__ import annotations

from pydantic import BaseModel

from api.schemas.fixed_points import FixedPointsRequest
from api.schemas.kernels import KernelsRequest
from api.schemas.phase_diagram import PhaseDiagramRequest
from api.schemas.predictions import PredictionsRequest
from api.schemas.spectra import SpectraRequest
from api.schemas.sweeps import SweepsRequest

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "fixed-points": FixedPointsRequest,
    "phase-diagram": PhaseDiagramRequest,
    "kernels": KernelsRequest,
    "spectra": SpectraRequest,
    "predictions": PredictionsRequest,
    "sweeps": SweepsRequest,
}
"""The request body model of each compute kind (the last path segment of its endpoint)."""
