"""OpenAI's usage and cost reports: `client.admin.organization.usage.completions` and
`.costs` of the `openai` SDK (admin key), daily buckets (`start_time`, `end_time` in unix
seconds) paged with `has_more` / `next_page`; costs are numbers in dollars, grouped by
line item (`<model>, input`, ...).

OpenAI's cost buckets settle later than its usage: the reconciliation waits
`LLM_ROUTER_RECONCILE_DELAY_HOURS` after a day before calling it final.
"""

from __future__ import annotations

from typing import Any

import openai
from openai.types.admin.organization.usage_completions_response import (
    DataResultOrganizationUsageCompletionsResult as CompletionsResult,
)
from openai.types.admin.organization.usage_completions_response import (
    UsageCompletionsResponse,
)
from openai.types.admin.organization.usage_costs_response import (
    DataResultOrganizationCostsResult as CostsResult,
)
from openai.types.admin.organization.usage_costs_response import UsageCostsResponse

from routing.prices.pricing import Usage
from routing.spend.reconcile import ReportedCost, ReportedUsage, micros_from_usd
from workers.providers.usage_reports.errors import ReportFailedError
from workers.providers.usage_reports.report import (
    ProviderReport,
    body_reason,
    bounds,
    day_of,
    pages,
)
from workers.settings import Settings

DEFAULT_BASE_URL = "https://api.openai.com/v1"
USAGE_BUCKETS = 31  # the largest page of daily usage buckets
COST_BUCKETS = 180  # and of daily cost buckets


def _cursor(page: UsageCompletionsResponse | UsageCostsResponse) -> str | None:
    return page.next_page if page.has_more else None


def read(settings: Settings, key: str, days: list[str]) -> ProviderReport:
    start, end = bounds(days)
    filters: dict[str, Any] = {}
    shown: dict[str, str] = {}
    if settings.reconcile_openai_project:
        filters["project_ids"] = [settings.reconcile_openai_project]
        shown["project"] = settings.reconcile_openai_project
    if settings.reconcile_openai_api_key_id:
        filters["api_key_ids"] = [settings.reconcile_openai_api_key_id]
        shown["api_key_id"] = settings.reconcile_openai_api_key_id
    query = {"start_time": int(start.timestamp()), "end_time": int(end.timestamp()),
             "bucket_width": "1d", **filters}
    report = ProviderReport("openai", filters=shown)
    # api_key="": the admin key alone authenticates (an OPENAI_API_KEY in the environment
    # would otherwise be sent instead of it).
    client = openai.OpenAI(api_key="", admin_api_key=key,
                           base_url=settings.openai_base_url or DEFAULT_BASE_URL,
                           timeout=settings.request_timeout, max_retries=2)
    usage_api = client.admin.organization.usage
    try:
        first = usage_api.completions(group_by=["model", "batch"], limit=USAGE_BUCKETS,
                                      **query)
        for page in pages(first, _cursor, lambda p: usage_api.completions(
                group_by=["model", "batch"], limit=USAGE_BUCKETS, page=_cursor(p) or "",
                **query), "openai usage"):
            report.usage += [_usage(bucket.start_time, r) for bucket in page.data
                             for r in bucket.results if isinstance(r, CompletionsResult)]
        cfirst = usage_api.costs(group_by=["line_item"], limit=COST_BUCKETS, **query)
        for cpage in pages(cfirst, _cursor, lambda p: usage_api.costs(
                group_by=["line_item"], limit=COST_BUCKETS, page=_cursor(p) or "",
                **query), "openai costs"):
            report.costs += [_cost(bucket.start_time, r) for bucket in cpage.data
                             for r in bucket.results if isinstance(r, CostsResult)]
    except openai.APIStatusError as exc:
        raise ReportFailedError(
            f"openai's report answered {exc.status_code} ({body_reason(exc.body)}); check "
            "OPENAI_ADMIN_KEY is an admin key of the organization and try again later"
        ) from None
    except openai.APIError as exc:
        raise ReportFailedError(
            f"openai's report could not be read ({type(exc).__name__}); check "
            "OPENAI_BASE_URL and the network, then try again") from None
    finally:
        client.close()
    return report



def _usage(start: int, r: CompletionsResult) -> ReportedUsage:
    # input_tokens includes the cached and cache-written part; the ledger's does not.
    cached = r.input_cached_tokens or 0
    written = r.input_cache_write_tokens or 0
    return ReportedUsage(
        day=day_of(start), model=r.model or "(no model)",
        usage=Usage(input_tokens=max(r.input_tokens - cached - written, 0),
                    output_tokens=r.output_tokens, cache_read_tokens=cached,
                    cache_write_tokens=written),
        batch=bool(r.batch), requests=r.num_model_requests,
    )


def _cost(start: int, r: CostsResult) -> ReportedCost:
    # A line item names a model's tokens as `<model>, <kind>`; others are not a model's.
    item = r.line_item or ""
    model = item.split(", ", 1)[0] if ", " in item else None
    value = r.amount.value if r.amount is not None and r.amount.value is not None else 0
    return ReportedCost(day=day_of(start), model=model, micros=micros_from_usd(value))
