"""Settings: defaults derived from the worker count, environment names, start-up errors."""

from __future__ import annotations

import pytest

from service.cli import main
from service.settings import Settings, SettingsError, env_name, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [env_name(field) for field in Settings.model_fields]:
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.settings.os.cpu_count", lambda: 8)
    settings = load_settings(workers=3)
    assert settings.blas_threads == 8 // 3
    assert settings.queue_size == 12
    assert load_settings().workers == 8
    assert load_settings().blas_threads == 1
    assert load_settings(workers=16).blas_threads == 1  # never 0


def test_environment_names_and_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPKERNEL_WORKERS", "3")
    monkeypatch.setenv("DEEPKERNEL_QUEUE_SIZE", "5")
    monkeypatch.setenv("DEEPKERNEL_API_KEYS", " alpha, beta ,,")
    monkeypatch.setenv("DEEPKERNEL_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    settings = load_settings()
    assert (settings.workers, settings.queue_size) == (3, 5)
    assert settings.api_keys == frozenset({"alpha", "beta"})
    assert settings.log_level == "debug"
    assert settings.redis_url == "redis://cache:6379/0"
    assert (settings.host, settings.port, settings.max_points) == ("127.0.0.1", 8000, 4000)
    assert settings.max_body_bytes == 32 * 2**20 and settings.cache_max_bytes == 256 * 2**20


def test_blank_redis_url_means_embedded_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    assert load_settings().redis_url is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEEPKERNEL_WORKERS", "0"),
        ("DEEPKERNEL_PORT", "http"),
        ("DEEPKERNEL_REQUEST_TIMEOUT_SECONDS", "-1"),
        ("REDIS_URL", "localhost:6379"),
        ("DEEPKERNEL_LOG_LEVEL", "loud"),
        ("DEEPKERNEL_MAX_BODY_BYTES", "0"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert f"{variable} (got {value!r})" in str(caught.value)


def test_serve_refuses_to_start_with_invalid_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPKERNEL_CACHE_TTL_SECONDS", "soon")
    assert main(["serve", "--port", "8123"]) == 2
    assert "DEEPKERNEL_CACHE_TTL_SECONDS (got 'soon')" in capsys.readouterr().err
