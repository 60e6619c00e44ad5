"""The names attribution gives (an agent, a run id, a tag's key and value): their
characters and their limits, checked with the field's path in the error. Pure."""

from __future__ import annotations

import re
from typing import Any

from routing.errors import AttributionError

AGENT_MAX = 64
RUN_ID_MAX = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_CHARSET = "letters, digits and '_', '.', ':', '-' (starting with a letter or digit)"


def check_name(path: str, value: Any, limit: int) -> str:
    """`value` as an agent or run id (or a tag's key or value, with its limit), or
    `AttributionError` naming `path`."""
    if not isinstance(value, str):
        raise AttributionError(path, f"expected a string, got {type(value).__name__}")
    if not value or len(value) > limit:
        raise AttributionError(path, f"must be 1 to {limit} characters, got {len(value)}")
    if not _NAME.fullmatch(value):
        raise AttributionError(path, f"{value[:limit]!r} may hold only {_CHARSET}")
    return value
