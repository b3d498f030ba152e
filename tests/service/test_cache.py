"""The result cache: binary codec, byte-bounded LRU, circuit breaker, Redis round trip."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import redis

from service.cache import CircuitBreaker, MemoryCache, RedisCache, ResultCache
from service.codec import CodecError, decode, encode, size_of


def sample_result() -> dict[str, object]:
    rng = np.random.default_rng(7)
    grid = rng.standard_normal((3, 4, 5))
    grid[0, 0, 0] = np.nan  # "does not exist" inside a grid
    grid[0, 0, 1] = -0.0
    grid[0, 0, 2] = 5e-324  # subnormal
    return {
        "depths": [1, 2, 3],
        "nngp": grid,
        "nngp_log10_scale": np.array([0.0, 1.5, -300.25]),
        "mask": np.array([[True, False]]),
        "counts": np.arange(4, dtype=">i8"),
        "phase": "chaotic",
        "q_star": None,
        "chi_1": np.float64(1.25),
        "nested": {"rows": [np.arange(2, dtype=np.float32), {"x": 1}]},
    }


def assert_same(decoded: object, original: object) -> None:
    if isinstance(original, np.ndarray):
        assert isinstance(decoded, np.ndarray)
        assert decoded.dtype == original.dtype and decoded.shape == original.shape
        assert decoded.tobytes() == np.ascontiguousarray(original).tobytes()  # bit-exact
    elif isinstance(original, dict):
        assert isinstance(decoded, dict) and decoded.keys() == original.keys()
        for key in original:
            assert_same(decoded[key], original[key])
    elif isinstance(original, list):
        assert isinstance(decoded, list) and len(decoded) == len(original)
        for a, b in zip(decoded, original, strict=True):
            assert_same(a, b)
    else:
        expected = original.item() if isinstance(original, np.generic) else original
        assert decoded == expected and type(decoded) is type(expected)


def test_codec_round_trip_is_bit_exact() -> None:
    original = sample_result()
    data = encode(original)
    assert data[:4] == b"DKC1" and b"pickle" not in data
    decoded = decode(data)
    assert_same(decoded, original)
    assert not decoded["nngp"].flags.writeable


def test_codec_refuses_object_arrays_and_foreign_bytes() -> None:
    with pytest.raises(CodecError):
        encode({"a": np.array([object()])})
    with pytest.raises(CodecError):
        decode(b"\x80\x04pickle")
    with pytest.raises(CodecError):
        decode(encode({"a": np.zeros(3)})[:-1])


def test_lru_is_bounded_in_bytes_and_evicts_least_recently_used() -> None:
    entry = {"k": np.zeros(1000)}  # 8000 bytes of data
    size = size_of(entry)
    assert 8000 < size < 8500
    cache = MemoryCache(max_bytes=3 * size)
    for key in "abc":
        cache.set(key, {"k": np.zeros(1000)})
    assert len(cache) == 3 and cache.bytes == 3 * size
    assert cache.get("a") is not None  # a is now the most recent; b the least
    cache.set("d", {"k": np.zeros(1000)})
    assert "b" not in cache and {"a", "c", "d"} <= {k for k in "abcd" if k in cache}
    assert cache.bytes <= cache.max_bytes
    cache.set("big", {"k": np.zeros(4000)})  # larger than the whole cache: not stored
    assert "big" not in cache and len(cache) == 3
    assert cache.get("a") is not None  # order now c, d, a
    cache.set("e", {"k": np.zeros(2000)})  # needs two slots: evicts c and d, keeps a
    assert [k for k in "acde" if k in cache] == ["a", "e"]
    assert cache.bytes == size + size_of({"k": np.zeros(2000)})
    assert (cache.counter.hits, cache.counter.misses) == (2, 0)


def test_cached_arrays_are_read_only() -> None:
    cache = MemoryCache(max_bytes=10**6)
    cache.set("a", {"k": np.ones(3)})
    value = cache.get("a")
    assert value is not None
    with pytest.raises(ValueError, match="read-only"):
        value["k"][0] = 2.0


def test_circuit_breaker_backs_off_exponentially_and_closes_on_success() -> None:
    now = [100.0]
    breaker = CircuitBreaker(base=0.5, cap=4.0, clock=lambda: now[0])
    assert breaker.allow()
    breaker.failure()
    assert not breaker.allow()
    now[0] += 0.5
    assert breaker.allow()  # one probe after the pause
    assert not breaker.allow()  # others wait while it probes
    breaker.failure()  # second failure: 1 s
    now[0] += 0.9
    assert not breaker.allow()
    now[0] += 0.1
    assert breaker.allow()
    for _ in range(10):
        breaker.failure()
    now[0] += 4.0  # capped
    assert breaker.allow()
    breaker.success()
    assert breaker.closed and breaker.allow() and breaker.allow()


@pytest.mark.anyio
async def test_dead_redis_is_a_miss_and_is_then_skipped() -> None:
    dead = RedisCache("redis://127.0.0.1:9/0", prefix="t:", ttl_seconds=60)  # port 9: discard
    cache = ResultCache(MemoryCache(10**6), dead)
    assert await cache.get("k") == (None, None)
    assert dead.errors == 1 and not dead.breaker.closed
    await cache.set("k", {"a": 1})  # breaker open: Redis not tried, memory still works
    assert dead.errors == 1
    assert await cache.get("k") == ({"a": 1}, "memory")
    assert (await cache.check())["status"] == "degraded"
    await cache.close()


class _TimeoutOnCancel:
    """A Redis client whose calls turn a cancellation into a TimeoutError, as redis-py's
    ``asyncio.timeout`` around a socket read can."""

    async def get(self, key: str) -> bytes | None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise TimeoutError("Timeout reading from socket") from None
        return None

    async def aclose(self) -> None: ...


@pytest.mark.anyio
async def test_a_cancelled_caller_is_cancelled_even_if_redis_reports_a_timeout() -> None:
    store = RedisCache("redis://127.0.0.1:9/0", prefix="t:", ttl_seconds=60)
    store.client = _TimeoutOnCancel()  # type: ignore[assignment]
    task = asyncio.create_task(store.get("k"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.errors == 0 and store.breaker.closed  # not counted as a Redis failure
    await store.close()


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_round_trip_is_bit_exact_with_ttl(redis_url: str, redis_prefix: str) -> None:
    store = RedisCache(redis_url, prefix=redis_prefix, ttl_seconds=321)
    original = sample_result()
    await store.set("kernels:abc", original)
    raw = redis.Redis.from_url(redis_url)
    assert 0 < raw.ttl(redis_prefix + "kernels:abc") <= 321
    assert raw.get(redis_prefix + "kernels:abc") == encode(original)
    raw.close()
    fresh = ResultCache(MemoryCache(10**6), store)  # empty LRU: must come from Redis
    value, backend = await fresh.get("kernels:abc")
    assert backend == "redis"
    assert_same(value, original)
    assert (await fresh.get("kernels:abc"))[1] == "memory"  # now in the LRU too
    assert await store.get("kernels:missing") is None
    assert (store.counter.hits, store.counter.misses) == (1, 1)
    assert (await fresh.check())["status"] == "ok"
    await store.close()
