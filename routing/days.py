"""UTC days as text ('YYYY-MM-DD'), as the ledger keys and the reports name them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def day_text(day: date | str) -> str:
    """A day as 'YYYY-MM-DD' (a bad string names the format)."""
    if isinstance(day, date):
        return day.isoformat()
    try:
        return date.fromisoformat(day).isoformat()
    except ValueError:
        raise ValueError(f"day must be YYYY-MM-DD, got {day!r}") from None


def report_days(day: date | str | None, days: int) -> list[str]:
    """The `days` UTC days ending with `day` (default: today), oldest first."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    last = date.fromisoformat(day_text(day)) if day is not None else datetime.now(UTC).date()
    return [(last - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
