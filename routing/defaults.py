"""The default routing config shipped in the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from routing.config import RoutingConfig, load_config
from routing.errors import ConfigError


def read_yaml(path: str | Path) -> Any:
    """A YAML or JSON file's document; a parse error names the file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError([("", f"cannot read {path}: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([("", f"{path} is not valid YAML: {exc}")]) from None


def default_document() -> dict[str, Any]:
    text = resources.files("routing").joinpath("default_config.yaml").read_text("utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def default_config() -> RoutingConfig:
    return load_config(default_document())
