"""Imports every command module so that each registers its commands."""
import routing.cli.budget_cmd
import routing.cli.report_cmd  # noqa: F401
from routing.cli import config_cmd, cost_estimate_cmd, route_cmd  # noqa: F401
from workers import (
    cli_demo,  # noqa: F401
    cli_metrics,  # noqa: F401
    cli_worker,  # noqa: F401
)
