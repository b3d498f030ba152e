"""FastAPI dependencies on the app's shared resources (read from ``request.state``).

Tests replace them with ``app.dependency_overrides[get_compute] = ...``; nothing global.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.compute import ComputeService
from service.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    """The settings the running app was created with."""
    settings: Settings = request.state.settings
    return settings


def get_compute(request: Request) -> ComputeService:
    """The app's compute service (cache + worker pool)."""
    compute: ComputeService = request.state.compute
    return compute


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ComputeDep = Annotated[ComputeService, Depends(get_compute)]
