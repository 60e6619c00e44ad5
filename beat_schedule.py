"""The Beat schedule, as data: one row per cron, each with an expiry shorter than its
interval so that a backlog never runs the same cron twice.

Run it with `celery -A workers.app beat`. tests/test_beat.py checks that every task named
here is registered and that its model key routes to an existing queue.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

SCHEDULE: dict[str, dict[str, Any]] = {
    "monitoring-every-30-minutes": {
        "task": "cron.monitoring",
        "schedule": 30 * MINUTE,
        "options": {"expires": 25 * MINUTE},
    },
    "content-curation-every-6-hours": {
        "task": "cron.content_curation",
        "schedule": 6 * HOUR,
        "options": {"expires": 5 * HOUR},
    },
    # Provider batches: submit the due ones, poll those at a provider, deliver answers.
    "provider-batches-every-30-seconds": {
        "task": "cron.provider_batches",
        "schedule": 30,
        "options": {"expires": 25},
    },
    "daily-cost-report": {
        "task": "cron.cost_report",
        "schedule": crontab(minute=5, hour=0),
        "options": {"expires": 12 * HOUR},
    },
    # The ledger against the providers' bills (only with an admin key set), for the newest
    # day past the reporting delay (LLM_ROUTER_RECONCILE_DELAY_HOURS).
    "daily-reconciliation": {
        "task": "cron.reconcile",
        "schedule": crontab(minute=20, hour=1),
        "options": {"expires": 12 * HOUR},
    },
    "monthly-routing-review": {
        "task": "cron.routing_review",
        "schedule": crontab(minute=30, hour=6, day_of_month=1),
        "options": {"expires": 7 * DAY},
    },
}

# Interval of each entry in seconds (for crontab rows: the period they repeat at).
INTERVALS: dict[str, int] = {
    "monitoring-every-30-minutes": 30 * MINUTE,
    "content-curation-every-6-hours": 6 * HOUR,
    "provider-batches-every-30-seconds": 30,
    "daily-cost-report": DAY,
    "daily-reconciliation": DAY,
    "monthly-routing-review": 28 * DAY,
}
