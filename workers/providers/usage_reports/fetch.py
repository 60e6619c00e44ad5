"""One provider's usage and cost report of some UTC days, as reconciliation rows: the
admin key checked, then the provider's reader (`anthropic`, `openai`)."""

from __future__ import annotations

from typing import Literal

from workers.providers.usage_reports.errors import MissingAdminKeyError
from workers.providers.usage_reports.report import ProviderReport
from workers.settings import Settings

ReportingProvider = Literal["anthropic", "openai"]
PROVIDERS: tuple[ReportingProvider, ...] = ("anthropic", "openai")
ADMIN_KEY_VARIABLES = {"anthropic": "ANTHROPIC_ADMIN_KEY", "openai": "OPENAI_ADMIN_KEY"}
# The longest range one report request may span (both providers' analytics limit).
MAX_DAYS = 31


def admin_key(settings: Settings, provider: ReportingProvider) -> str:
    secret = getattr(settings, f"{provider}_admin_key")
    if secret is None:
        raise MissingAdminKeyError(provider, ADMIN_KEY_VARIABLES[provider])
    value: str = secret.get_secret_value()
    return value


def fetch(settings: Settings, provider: ReportingProvider, days: list[str]) -> ProviderReport:
    """`provider`'s usage and cost report of `days` (consecutive UTC days, at most
    `MAX_DAYS`), filtered by the fleet's workspace/project and API key when set."""
    if not 1 <= len(days) <= MAX_DAYS:
        raise ValueError(f"a report spans 1 to {MAX_DAYS} days, got {len(days)}")
    key = admin_key(settings, provider)
    if provider == "anthropic":
        from workers.providers.usage_reports import anthropic

        return anthropic.read(settings, key, days)
    from workers.providers.usage_reports import openai

    return openai.read(settings, key, days)

