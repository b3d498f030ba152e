"""Prometheus metrics, one registry per app (so several apps can live in one process).

Request latency and compute time are histograms observed as they happen; the cache and pool
figures are read from the live objects at scrape time by a collector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The app's metrics; :meth:`watch` adds the pool and cache figures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "deepkernel_http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.compute_seconds = Histogram(
            "deepkernel_compute_duration_seconds",
            "Time from admission to result of one computation, by kind and outcome.",
            ["kind", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch(
        self,
        pool_status: Callable[[], dict[str, Any]],
        cache_counters: Callable[[], dict[str, Any]],
    ) -> Callable[[], None]:
        """Expose the pool's ``status()`` and the cache's hit counters at each scrape.

        Returns the function that stops it (at the end of the app's lifespan).
        """
        collector = _StateCollector(pool_status, cache_counters)
        self.registry.register(collector)
        return lambda: self.registry.unregister(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(
        self,
        pool_status: Callable[[], dict[str, Any]],
        cache_counters: Callable[[], dict[str, Any]],
    ) -> None:
        self._pool_status = pool_status
        self._cache_counters = cache_counters

    def collect(self) -> Iterator[Metric]:
        hits = CounterMetricFamily(
            "deepkernel_cache_hits", "Cache hits by backend.", labels=["backend"]
        )
        misses = CounterMetricFamily(
            "deepkernel_cache_misses", "Cache misses by backend.", labels=["backend"]
        )
        for backend, counter in self._cache_counters().items():
            hits.add_metric([backend], counter.hits)
            misses.add_metric([backend], counter.misses)
        yield hits
        yield misses
        pool = self._pool_status()
        yield GaugeMetricFamily(
            "deepkernel_queue_depth", "Admitted tasks waiting for a worker.", value=pool["waiting"]
        )
        yield GaugeMetricFamily(
            "deepkernel_tasks_running", "Tasks computing in workers.", value=pool["running"]
        )
        yield GaugeMetricFamily(
            "deepkernel_workers_alive", "Live worker processes.", value=pool["alive"]
        )
        yield CounterMetricFamily(
            "deepkernel_worker_restarts",
            "Workers replaced after a crash, a timeout or a cancellation.",
            value=pool["restarts"],
        )
