"""Imports every command module so that each registers its commands."""
from routing.cli import config_cmd, cost_estimate_cmd, route_cmd  # noqa: F401
