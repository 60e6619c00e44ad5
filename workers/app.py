"""The Celery app. `celery -A workers.app worker -Q llm.haiku` works as well as
`llm-router worker --tier haiku`.

The configuration is computed lazily from `Settings` when Celery first needs it, so
importing this module does no I/O. Queues are declared from the shipped default config;
a tier added later in Redis gets its queue created on first use.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from routing.defaults import default_config
from workers import lifecycle
from workers.celery_config import celery_config
from workers.settings import get_settings


def _config() -> dict[str, Any]:
    return celery_config(get_settings(), default_config())


app = Celery("llm_router", include=["tasks"])
app.add_defaults(_config)
lifecycle.connect(app)
