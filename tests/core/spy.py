"""Recording what a module-level function returned while a test runs."""

from __future__ import annotations

from typing import Any

import pytest


def spy(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[Any]:
    """Replace ``owner.name`` by a wrapper that calls it and appends each return value to
    the list returned here (undone with the rest of ``monkeypatch``)."""
    original = getattr(owner, name)
    returned: list[Any] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        value = original(*args, **kwargs)
        returned.append(value)
        return value

    monkeypatch.setattr(owner, name, wrapper)
    return returned
