"""Service configuration: one pydantic-settings class, validated once at start-up.

Every field reads an environment variable ``DEEPKERNEL_<FIELD>`` (case-insensitive), except
``redis_url``, which reads the conventional plain ``REDIS_URL``. An invalid value stops the
service at start-up with a message naming the variable (see :func:`load_settings`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "DEEPKERNEL_"
MIB = 1024 * 1024


def _cpus() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Limits, pool sizes and backends of one service process. Units are in the names."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default_factory=_cpus, ge=1, le=256, description="worker processes")
    blas_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="BLAS and numba threads per worker; default cpus // workers",
    )
    queue_size: int | None = Field(
        default=None,
        ge=1,
        description="tasks admitted at once (running + waiting); default 4 × workers",
    )
    request_timeout_seconds: float = Field(default=60.0, gt=0)
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "redis_url"),
        description="Redis behind the in-process cache; unset = in-process cache only",
    )
    redis_prefix: str = Field(default="deepkernel:", min_length=1, description="Redis key prefix")
    cache_ttl_seconds: int = Field(default=86400, ge=1)
    cache_max_bytes: int = Field(default=256 * MIB, ge=0, description="in-process LRU bound")
    max_points: int = Field(default=4000, ge=1, description="n1+n2 (or n_train+n_test) per request")
    max_depth: int = Field(default=100_000, ge=1)
    max_work: float = Field(
        default=1e8,
        gt=0,
        description=(
            "synchronous budget in entry-layers n1·n2·depth: the closed-form maps cost about"
            " 250 ns per entry-layer on one core, so 1e8 is about 25 s, inside the 60 s timeout"
        ),
    )
    max_body_bytes: int = Field(default=32 * MIB, ge=1)
    api_keys: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), description="comma-separated; empty = authentication off"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    dask_scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address (tcp://host:8786); unset = the local process pool",
    )
    job_max_points: int = Field(default=20_000, ge=1, description="max_points for a job")
    job_max_work: float = Field(
        default=1e11, gt=0, description="max_work for a job, in entry-layers (~7 h on one core)"
    )
    job_timeout_seconds: float = Field(default=6 * 3600.0, gt=0, description="per job task")
    job_queue_size: int = Field(
        default=64, ge=1, description="jobs queued or running in this process at once"
    )
    job_retention_seconds: int = Field(
        default=7 * 86400, ge=1, description="how long a job's status and result are kept"
    )
    job_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a running job not heartbeated for this long is taken to have lost its runner",
    )

    @field_validator("redis_url", "dask_scheduler", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _derived_defaults(self) -> Self:
        if self.blas_threads is None:
            self.blas_threads = max(1, _cpus() // self.workers)
        if self.queue_size is None:
            self.queue_size = 4 * self.workers
        return self

    @property
    def threads_per_worker(self) -> int:
        """BLAS threads in each worker (resolved default)."""
        assert self.blas_threads is not None
        return self.blas_threads

    @property
    def admission_limit(self) -> int:
        """Tasks admitted at once (resolved default)."""
        assert self.queue_size is not None
        return self.queue_size


class SettingsError(RuntimeError):
    """Start-up configuration is invalid; the message names each bad environment variable."""


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    field = field.lower()
    return "REDIS_URL" if field == "redis_url" else f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (``overrides`` win); raise :class:`SettingsError` on bad values."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            name = env_name(field) if field else "settings"
            given = os.environ.get(name)
            shown = f" (got {given!r})" if given is not None else ""
            lines.append(f"{name}{shown}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return load_settings()
