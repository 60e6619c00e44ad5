"""The default routing config shipped in the package."""

from __future__ import annotations

from importlib import resources
from typing import Any

from routing.config.file import parse_document
from routing.config.load import load_config
from routing.config.models import RoutingConfig


def default_document() -> dict[str, Any]:
    """The shipped config document (read as strictly as a user's file)."""
    data = resources.files("routing.config").joinpath("default_config.yaml").read_bytes()
    return parse_document(data, "default_config.yaml")


def default_config() -> RoutingConfig:
    return load_config(default_document())
