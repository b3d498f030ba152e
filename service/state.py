"""The shared resources one app holds while it runs, created by its lifespan."""

from __future__ import annotations

from typing import TypedDict

from service.cache import ResultCache
from service.compute import ComputeService
from service.jobs import JobManager
from service.metrics import Metrics
from service.pool import ComputeBackend
from service.settings import Settings


class AppState(TypedDict):
    """Yielded by the lifespan; each request sees it as ``request.state.<name>``."""

    settings: Settings
    metrics: Metrics
    cache: ResultCache
    pool: ComputeBackend
    compute: ComputeService
    jobs: JobManager
