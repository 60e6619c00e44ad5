"""What both providers' report readers share: the report's rows, its day bounds, and
paging that refuses a report that pages forever.

The report asked for covers whole UTC days, `[first day 00:00, last day + 1 00:00)` in
daily buckets; a bucket's start names its day. Paging follows the SDK's cursors, at most
`MAX_PAGES` pages per report, and stops with `EndlessPagesError` if a cursor comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from routing.spend.reconcile import ReportedCost, ReportedUsage
from workers.providers.usage_reports.errors import EndlessPagesError

# Far more than a month of daily rows per model needs; a report past it pages forever.
MAX_PAGES = 100

P = TypeVar("P")


@dataclass(slots=True)
class ProviderReport:
    provider: str
    usage: list[ReportedUsage] = field(default_factory=list)
    costs: list[ReportedCost] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)


def bounds(days: list[str]) -> tuple[datetime, datetime]:
    """00:00 UTC of the first day, and of the day after the last."""
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return start, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)


def day_of(moment: datetime | int) -> str:
    """The UTC day a bucket starting at `moment` (a datetime, or unix seconds) covers."""
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).date().isoformat()


def pages(first: P, cursor: Callable[[P], str | None], following: Callable[[P], P],
          what: str) -> Iterator[P]:
    """`first` and the pages after it while `cursor` gives one; refuses a cursor seen
    before or more than `MAX_PAGES` pages."""
    page, seen = first, set[str]()
    for _ in range(MAX_PAGES):
        yield page
        token = cursor(page)
        if not token:
            return
        if token in seen:
            raise EndlessPagesError(
                f"{what}: the provider returned page cursor {token!r} twice (a report that "
                "pages forever); nothing was compared, try again later")
        seen.add(token)
        page = following(page)
    raise EndlessPagesError(
        f"{what}: more than {MAX_PAGES} pages (a report that pages forever); nothing was "
        "compared: reconcile fewer days (--days) or try again later")


def body_reason(body: object) -> str:
    """The message of a provider's error body (both providers nest it under `error`)."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or "no reason given")[:200]
