"""Every v1 router, gathered into the one ``router`` that ``service.app.create_app`` includes."""

from __future__ import annotations

from fastapi import APIRouter

from api.routers import (
    activations,
    fixed_points,
    jobs,
    kernels,
    phase_diagram,
    predictions,
    spectra,
    sweeps,
)

router = APIRouter()
for module in (
    activations,
    fixed_points,
    phase_diagram,
    kernels,
    spectra,
    predictions,
    sweeps,
    jobs,
):
    router.include_router(module.router)
