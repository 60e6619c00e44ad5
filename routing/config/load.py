"""The ways a document becomes a runtime config value (`routing.config.models`, `.price`).

- `load_config`: a document not validated before (a file, a CLI change) is validated by
  pydantic (`routing.config.schema`, loaded on first use) and cross-checked.
- `read_config`, `read_price`: a document in a validated one's shape (a stored config
  under this installation's seal, `routing.config.seal`; a price a call record kept or
  the catalog gives) is built without loading pydantic (`routing.config.stored`); the
  config is cross-checked again. One in any other shape is validated in full, so it is
  refused with the message a file would get.
"""

from __future__ import annotations

from typing import Any

from routing.config.models import RoutingConfig, cross_check
from routing.config.price import Price
from routing.config.stored import Unread, construct, read
from routing.errors import ConfigError


def load_config(data: Any) -> RoutingConfig:
    """Validate a config document, cross-check it; raise `ConfigError` naming every bad
    field."""
    from routing.config.schema import load_config as validate

    return validate(data)


def read_config(data: Any) -> RoutingConfig:
    """A config document the store kept: built without validating its fields again,
    cross-checked; validated in full when it is not in a validated document's shape."""
    try:
        cfg = construct(RoutingConfig, data)
    except Unread:
        return load_config(data)
    problems = cross_check(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def read_price(data: Any) -> Price:
    """A price document in a validated price's shape without loading pydantic; any other
    validated in full (`ConfigError` naming the field)."""
    return read(Price, data, _load_price)


def _load_price(data: Any) -> Price:
    from routing.config.schema import load_price

    return load_price(data)
