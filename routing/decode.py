"""Redis replies as text: redis-py returns bytes unless the client decodes responses."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str:
    """A Redis reply (bytes or str) as str."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
