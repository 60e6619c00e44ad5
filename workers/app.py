"""The Celery app. `celery -A workers.app worker -Q llm.haiku` works as well as
`llm-router worker --tier haiku`.

The configuration is computed lazily from `Settings` when Celery first needs it, so
importing this module does no I/O. Queues are declared from the shipped default config;
a tier added later in Redis gets its queue created on first use. A refused environment
variable stops `celery -A workers.app ...` with one line (`Error: VARIABLE=...: reason;
fix`, exit 2) rather than a traceback; elsewhere it raises `SettingsError`.
"""

from __future__ import annotations

from typing import Any

import click
from celery import Celery

from routing.config.defaults import default_config
from workers import attribution, flower_login, lifecycle
from workers.celery_config import celery_config
from workers.errors import BrokerURLError, SettingsError
from workers.settings import get_settings


class SettingsRefused(click.ClickException):
    """A refused environment variable, on Celery's command line: `Error: ...`, exit 2 (a
    refused input, as `llm-router` says it)."""

    exit_code = 2


def _config() -> dict[str, Any]:
    try:
        return celery_config(get_settings(), default_config())
    except (SettingsError, BrokerURLError) as exc:
        if click.get_current_context(silent=True) is None:
            raise  # a program using the app: the exception, its message one line
        # Celery's command line (worker, beat, flower, ...): its one-line error, exit 2.
        raise SettingsRefused(str(exc)) from None


app = Celery("llm_router", include=["tasks"])
app.add_defaults(_config)
lifecycle.connect(app)
flower_login.connect(app)  # Flower against this app: never without a login
attribution.connect()  # agent, run and tags carried through canvases and hops
