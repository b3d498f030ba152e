"""The application factory.

``create_app()`` builds the FastAPI app; its lifespan creates the shared resources (result
cache, worker pool, compute service) and yields them as :class:`service.state.AppState`, so
every request reads them from ``request.state`` through :mod:`service.deps`. Nothing is
global: each app (and each test) has its own pool, cache and metrics registry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.middleware import Middleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from api.problems import PROBLEM_MEDIA_TYPE, Problem, install_exception_handlers, problem_response
from api.routes import router as api_router
from service.cache import MemoryCache, RedisCache, ResultCache
from service.compute import ComputeService
from service.docs import install_docs
from service.errors import ServiceError
from service.health import router as health_router
from service.jobs import JobManager, job_store
from service.metrics import Metrics
from service.middleware import (
    AccessMiddleware,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    RequestIdMiddleware,
)
from service.pool import DEFAULT_RUNNER, ComputeBackend, ProcessPool
from service.settings import Settings, get_settings
from service.state import AppState

DESCRIPTION = """\
Infinite-width theory of deep fully-connected networks as a service: NNGP and NTK kernels,
signal-propagation fixed points and phase diagrams, spectra, and the predictions of
gradient-flow training.

Errors are RFC 9457 `application/problem+json`. When the service is configured with API keys
(`DEEPKERNEL_API_KEYS`), every `/v1/*` request needs an `X-API-Key` header; the operations
endpoints and these docs stay open.
"""

API_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    auto_error=False,  # documents the header; service.middleware.ApiKeyMiddleware enforces it
    description="Needed on /v1/* only when the service is configured with DEEPKERNEL_API_KEYS.",
)
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Problem,
        "description": "Missing or invalid X-API-Key (only when the service has API keys)",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


def operation_id(route: APIRoute) -> str:
    """The route's name (its endpoint function's name): readable generated client methods."""
    return route.name


def create_app(settings: Settings | None = None, *, runner: str = DEFAULT_RUNNER) -> FastAPI:
    """The deepkernel app. ``runner`` is the worker's task function (tests swap it)."""
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        redis = None
        if settings.redis_url is not None:
            redis = RedisCache(
                settings.redis_url,
                prefix=settings.redis_prefix,
                ttl_seconds=settings.cache_ttl_seconds,
            )
        cache = ResultCache(MemoryCache(settings.cache_max_bytes), redis)
        pool: ComputeBackend
        if settings.dask_scheduler is not None:  # distributed is the optional extra [dask]
            from service.dask_backend import DaskBackend

            pool = DaskBackend(
                settings.dask_scheduler, queue_size=settings.admission_limit, runner=runner
            )
        else:
            pool = ProcessPool(
                workers=settings.workers,
                threads_per_worker=settings.threads_per_worker,
                queue_size=settings.admission_limit,
                runner=runner,
            )
        await pool.start()
        stop_watching = metrics.watch(pool.status, cache.counters)
        compute = ComputeService(
            pool, cache, timeout=settings.request_timeout_seconds, metrics=metrics
        )
        jobs = JobManager(
            compute,
            job_store(
                settings.cache_max_bytes,
                settings.redis_url,
                redis_prefix=settings.redis_prefix,
                retention_seconds=settings.job_retention_seconds,
            ),
            # job parts computing at once: one per pool worker; on Dask (which queues), half
            # the admission slots, leaving the other half to synchronous requests
            parallelism=(
                max(1, settings.admission_limit // 2)
                if settings.dask_scheduler
                else settings.workers
            ),
            queue_size=settings.job_queue_size,
            timeout=settings.job_timeout_seconds,
            lease_seconds=settings.job_lease_seconds,
        )
        try:
            yield AppState(
                settings=settings,
                metrics=metrics,
                cache=cache,
                pool=pool,
                compute=compute,
                jobs=jobs,
            )
        finally:
            stop_watching()
            await jobs.close()
            await pool.close()
            await cache.close()

    app = FastAPI(
        title="deepkernel",
        version=version("deepkernel"),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        middleware=[  # outermost first; see service.middleware for why this order
            Middleware(RequestIdMiddleware),
            Middleware(AccessMiddleware, metrics=metrics),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
            Middleware(ApiKeyMiddleware, keys=settings.api_keys),
        ],
    )
    install_exception_handlers(app)
    app.add_exception_handler(ServiceError, _on_service_error)
    app.include_router(health_router)
    app.include_router(api_router, dependencies=[Security(API_KEY)], responses=UNAUTHORIZED)
    install_docs(app)
    return app


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    """Like the API's domain-error handler, plus the error's headers (Retry-After)."""
    assert isinstance(exc, ServiceError)
    return problem_response(exc.status, exc.title, exc.detail, exc.slug, headers=exc.headers)
