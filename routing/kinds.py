"""The named choices of a routing config: providers, worker pools, budget policies.

Plain enums in a module of their own, so that the CLI can offer them as choices without
loading the config models.
"""

from __future__ import annotations

from enum import StrEnum


class Provider(StrEnum):
    anthropic = "anthropic"
    openai = "openai"
    moonshot = "moonshot"
    google = "google"


class Pool(StrEnum):
    threads = "threads"
    prefork = "prefork"
    solo = "solo"


class BudgetPolicy(StrEnum):
    defer = "defer"
    downgrade = "downgrade"
    reject = "reject"
