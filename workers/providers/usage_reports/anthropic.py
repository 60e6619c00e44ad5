"""Anthropic's usage and cost reports: the organization analytics endpoints of the
`anthropic` SDK (`client.beta.organization.analytics.usage.list` and `.cost.list`, beta
`analytics-usage-cost-2026-08-24`; the older usage_report / cost_report are legacy).

Rows come per daily time bucket (`starting_at`, `ending_at`) and group (model, service
tier); costs are decimal strings of cents. Anthropic documents that usage and cost
typically appear within minutes, occasionally later: the reconciliation waits
`LLM_ROUTER_RECONCILE_DELAY_HOURS` after a day before calling it final.
"""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.pagination import SyncReportPageCursor
from anthropic.types.beta.organization.analytics.beta_analytics_cost_item import (
    BetaAnalyticsCostItem,
)
from anthropic.types.beta.organization.analytics.beta_analytics_usage_item import (
    BetaAnalyticsUsageItem,
)

from routing.prices.pricing import Usage
from routing.spend.reconcile import ReportedCost, ReportedUsage, micros_from_cents
from workers.providers.anthropic import DEFAULT_BASE_URL
from workers.providers.usage_reports.errors import ReportFailedError
from workers.providers.usage_reports.report import (
    ProviderReport,
    body_reason,
    bounds,
    day_of,
    pages,
)
from workers.settings import Settings

PAGE_ROWS = 1000  # the endpoints' largest page


def _cursor(page: SyncReportPageCursor[Any]) -> str | None:
    return page.next_page if page.has_next_page() else None


def read(settings: Settings, key: str, days: list[str]) -> ProviderReport:
    start, end = bounds(days)
    filters: dict[str, Any] = {}
    shown: dict[str, str] = {}
    if settings.reconcile_anthropic_workspace:
        filters["workspace_ids"] = [settings.reconcile_anthropic_workspace]
        shown["workspace"] = settings.reconcile_anthropic_workspace
    if settings.reconcile_anthropic_api_key_id:
        filters["api_key_ids"] = [settings.reconcile_anthropic_api_key_id]
        shown["api_key_id"] = settings.reconcile_anthropic_api_key_id
    query = {"starting_at": start, "ending_at": end, "time_bucket_width": "1d",
             "limit": PAGE_ROWS, **filters}
    report = ProviderReport("anthropic", filters=shown)
    client = anthropic.Anthropic(
        api_key=key, base_url=settings.anthropic_base_url or DEFAULT_BASE_URL,
        timeout=settings.request_timeout, max_retries=2,
        open_telemetry={"traces": {"enabled": False}, "propagation": False},
    )
    analytics = client.beta.organization.analytics
    try:
        usage = analytics.usage.list(group_by=["model", "service_tier"], **query)
        for page in pages(usage, _cursor, lambda p: p.get_next_page(), "anthropic usage"):
            report.usage += [_usage(item) for item in page.data]
        cost = analytics.cost.list(group_by=["model"], **query)
        for cpage in pages(cost, _cursor, lambda p: p.get_next_page(), "anthropic cost"):
            report.costs += [_cost(item) for item in cpage.data]
    except anthropic.APIStatusError as exc:
        raise ReportFailedError(
            f"anthropic's report answered {exc.status_code} "
            f"({body_reason(exc.body)}); check ANTHROPIC_ADMIN_KEY is an admin key of the "
            "organization and try again later") from None
    except anthropic.APIError as exc:
        raise ReportFailedError(
            f"anthropic's report could not be read ({type(exc).__name__}); check "
            "ANTHROPIC_BASE_URL and the network, then try again") from None
    finally:
        client.close()
    return report



def _usage(item: BetaAnalyticsUsageItem) -> ReportedUsage:
    u = item.usage
    writes = u.cache_creation.ephemeral_5m_input_tokens + u.cache_creation.ephemeral_1h_input_tokens
    return ReportedUsage(
        day=day_of(item.starting_at), model=item.group.model or "(no model)",
        usage=Usage(input_tokens=u.uncached_input_tokens, output_tokens=u.output_tokens,
                    cache_read_tokens=u.cache_read_input_tokens, cache_write_tokens=writes),
        batch=item.group.service_tier == "batch", requests=u.requests or 0,
    )


def _cost(item: BetaAnalyticsCostItem) -> ReportedCost:
    return ReportedCost(day=day_of(item.starting_at), model=item.group.model,
                        micros=micros_from_cents(item.cost.amount))
