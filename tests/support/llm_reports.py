"""The usage and cost reports of the fake LLM server, in the providers' published formats.

Anthropic (organization analytics, beta): `GET /v1/organizations/analytics/usage` and
`/cost`: one row per daily time bucket and `group_by[]` combination (`starting_at`,
`ending_at`, `group` with every dimension not grouped by null: a null workspace), usage
with `uncached_input_tokens`, `cache_read_input_tokens`, `cache_creation.ephemeral_*`,
cost `amount` as a decimal string of cents; pages of `limit` rows with `has_more`,
`next_page` (an opaque cursor) and `data_refreshed_at`.
OpenAI: `GET /v1/organization/usage/completions` and `/v1/organization/costs`: one bucket
per day (`start_time`, `end_time` unix seconds, `results` per `group_by`), usage
`input_tokens` *including* cached tokens, cost `amount.value` a number of dollars per
line item `<model>, input` / `, cached input` / `, output`; pages of `limit` buckets.

The reports hold what a test puts in (`add`): entries of one day, model, workspace or
project, API key and batch flag, with their tokens and cost per token kind. Controls:

    server.reports.add(Entry(...))
    server.reports.page_rows = 2          # pages shorter than asked (paging is exercised)
    server.reports.fail(500, times=1)     # the next report request answers 500
    server.reports.endless()              # every page says has_more with the same cursor
    server.reports.calls                  # [(path, query), ...] of every report request

Requests must carry the provider's admin key (`ADMIN_KEYS`): any other key gets a 401.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

Answer = tuple[int, list[tuple[str, str]], bytes]
ADMIN_KEYS = {
    "anthropic": "sk-ant-admin-test-7c1e9a3f5b2d8e40",
    "openai": "sk-admin-openai-test-2f8b4d6a1c9e7a50",
}
PATHS = {
    "/v1/organizations/analytics/usage": ("anthropic", "usage"),
    "/v1/organizations/analytics/cost": ("anthropic", "cost"),
    "/v1/organization/usage/completions": ("openai", "usage"),
    "/v1/organization/costs": ("openai", "cost"),
}
KINDS = ("input", "cache_read", "cache_write", "output")
OPENAI_ITEMS = {"input": "input", "cache_read": "cached input", "cache_write": "cache write",
                "output": "output"}


@dataclass(frozen=True)
class Entry:
    """Usage of one UTC day: tokens as the ledger counts them (input without the cache) and
    the bill per token kind in USD."""

    provider: str
    day: str
    model: str
    tokens: dict[str, int]  # kind (KINDS) -> tokens
    cost_usd: dict[str, Decimal]  # kind -> USD billed
    workspace: str | None = None  # Anthropic workspace_id / OpenAI project_id
    api_key_id: str | None = None
    batch: bool = False
    requests: int = 1


@dataclass
class _Failure:
    status: int
    times: int


@dataclass
class FakeReports:
    entries: list[Entry] = field(default_factory=list)
    page_rows: int | None = None
    calls: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _endless: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.entries.clear()
            self.calls.clear()
            self._failures.clear()
            self.page_rows = None
            self._endless = False

    def add(self, *entries: Entry) -> None:
        with self._lock:
            self.entries.extend(entries)

    def fail(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._failures.append(_Failure(status, times))

    def endless(self) -> None:
        with self._lock:
            self._endless = True

    @staticmethod
    def handles(path: str) -> bool:
        return path in PATHS

    def answer(self, path: str, query: str, headers: dict[str, str]) -> Answer:
        provider, report = PATHS[path]
        params = {k.removesuffix("[]"): v for k, v in parse_qs(query).items()}
        with self._lock:
            self.calls.append((path, params))
            given = headers.get("x-api-key") or headers.get("authorization", "")
            if ADMIN_KEYS[provider] not in given:
                return _error(provider, 401, "authentication_error",
                              "this endpoint needs an admin key")
            if self._failures:
                failure = self._failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
                return _error(provider, failure.status, "api_error", "report unavailable")
            entries = list(self.entries)
            endless, page_rows = self._endless, self.page_rows
        if provider == "anthropic":
            rows = _anthropic_rows(report, entries, params)
        else:
            rows = _openai_buckets(report, entries, params)
        limit = int(params.get("limit", ["20" if provider == "anthropic" else "7"])[0])
        size = min(limit, page_rows or limit)
        offset = int(params.get("page", ["page_0"])[0].removeprefix("page_") or 0)
        chunk = rows[offset:offset + size]
        more = endless or offset + size < len(rows)
        cursor = "page_0" if endless else f"page_{offset + size}" if more else None
        body: dict[str, Any] = {"data": chunk, "has_more": more, "next_page": cursor}
        if provider == "anthropic":
            body["data_refreshed_at"] = _rfc3339(datetime.now(UTC))
        else:
            body["object"] = "page"
        return 200, [("content-type", "application/json")], json.dumps(body).encode()


def _error(provider: str, status: int, kind: str, message: str) -> Answer:
    body: dict[str, Any] = (
        {"type": "error", "error": {"type": kind, "message": message}}
        if provider == "anthropic" else
        {"error": {"message": message, "type": kind, "param": None, "code": None}}
    )
    return status, [("content-type", "application/json")], json.dumps(body).encode()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _days(start: datetime, end: datetime) -> list[str]:
    days, day = [], start.date()
    while datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def _selected(entries: list[Entry], provider: str, params: dict[str, list[str]],
              workspace_param: str) -> list[Entry]:
    out = []
    for e in entries:
        if e.provider != provider:
            continue
        if workspace_param in params and e.workspace not in params[workspace_param]:
            continue
        if "api_key_ids" in params and e.api_key_id not in params["api_key_ids"]:
            continue
        out.append(e)
    return out


def _anthropic_rows(report: str, entries: list[Entry],
                    params: dict[str, list[str]]) -> list[dict[str, Any]]:
    start = datetime.fromisoformat(params["starting_at"][0].replace("Z", "+00:00"))
    end = datetime.fromisoformat(params["ending_at"][0].replace("Z", "+00:00"))
    group_by = params.get("group_by", [])
    grouped: dict[tuple[Any, ...], list[Entry]] = {}
    for e in _selected(entries, "anthropic", params, "workspace_ids"):
        if e.day not in _days(start, end):
            continue
        dims = {"model": e.model, "workspace_id": e.workspace, "api_key_id": e.api_key_id,
                "service_tier": "batch" if e.batch else "standard"}
        key = (e.day, *(dims[g] for g in group_by))
        grouped.setdefault(key, []).append(e)
    rows = []
    for key in sorted(grouped, key=lambda k: tuple(str(x) for x in k)):
        day, values = key[0], dict(zip(group_by, key[1:], strict=True))
        group = {name: values.get(name) for name in
                 ("model", "workspace_id", "api_key_id", "service_tier", "product",
                  "actor", "context_window", "inference_geo", "speed")}
        first = date.fromisoformat(day)
        bucket_start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        row: dict[str, Any] = {"starting_at": _rfc3339(bucket_start),
                               "ending_at": _rfc3339(bucket_start + timedelta(days=1)),
                               "group": group}
        es = grouped[key]
        tokens = {k: sum(e.tokens.get(k, 0) for e in es) for k in KINDS}
        if report == "usage":
            row["usage"] = {
                "uncached_input_tokens": tokens["input"],
                "cache_read_input_tokens": tokens["cache_read"],
                "cache_creation": {"ephemeral_5m_input_tokens": tokens["cache_write"],
                                   "ephemeral_1h_input_tokens": 0},
                "output_tokens": tokens["output"],
                "server_tool_use": {"web_search_requests": 0},
                "total_tokens": sum(tokens.values()),
                "requests": sum(e.requests for e in es),
            }
        else:
            cents = sum((sum(e.cost_usd.values(), Decimal(0)) * 100 for e in es), Decimal(0))
            row["cost"] = {"amount": f"{cents:f}", "currency": "USD",
                           "list_amount": f"{cents:f}", "requests": sum(e.requests for e in es)}
        rows.append(row)
    return rows


def _openai_buckets(report: str, entries: list[Entry],
                    params: dict[str, list[str]]) -> list[dict[str, Any]]:
    start = datetime.fromtimestamp(int(params["start_time"][0]), UTC)
    end = datetime.fromtimestamp(int(params["end_time"][0]), UTC)
    group_by = params.get("group_by", [])
    selected = _selected(entries, "openai", params, "project_ids")
    buckets = []
    for day in _days(start, end):
        first = date.fromisoformat(day)
        bucket_start = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
        today = [e for e in selected if e.day == day]
        results = (_openai_usage(today, group_by) if report == "usage"
                   else _openai_costs(today, group_by))
        buckets.append({"object": "bucket", "start_time": bucket_start,
                        "end_time": bucket_start + 86400, "results": results})
    return buckets


def _openai_usage(entries: list[Entry], group_by: list[str]) -> list[dict[str, Any]]:
    grouped: dict[tuple[Any, ...], list[Entry]] = {}
    for e in entries:
        dims = {"model": e.model, "batch": e.batch, "project_id": e.workspace,
                "api_key_id": e.api_key_id}
        grouped.setdefault(tuple(dims[g] for g in group_by), []).append(e)
    results = []
    for key, es in sorted(grouped.items(), key=lambda kv: str(kv[0])):
        values = dict(zip(group_by, key, strict=True))
        t = {k: sum(e.tokens.get(k, 0) for e in es) for k in KINDS}
        results.append({
            "object": "organization.usage.completions.result",
            "input_tokens": t["input"] + t["cache_read"] + t["cache_write"],
            "input_cached_tokens": t["cache_read"], "input_cache_write_tokens": t["cache_write"],
            "output_tokens": t["output"], "num_model_requests": sum(e.requests for e in es),
            "model": values.get("model"), "batch": values.get("batch"),
            "project_id": values.get("project_id"), "api_key_id": values.get("api_key_id"),
            "user_id": None, "service_tier": None, "api_source": None,
        })
    return results


def _openai_costs(entries: list[Entry], group_by: list[str]) -> list[dict[str, Any]]:
    sums: dict[tuple[Any, ...], Decimal] = {}
    for e in entries:
        for kind, amount in e.cost_usd.items():
            dims = {"line_item": f"{e.model}, {OPENAI_ITEMS[kind]}", "project_id": e.workspace,
                    "api_key_id": e.api_key_id}
            key = tuple(dims[g] for g in group_by)
            sums[key] = sums.get(key, Decimal(0)) + amount
    return [{"object": "organization.costs.result",
             "amount": {"value": float(total), "currency": "usd"}, "project_id": None,
             "user_id": None, "api_source": None, **dict(zip(group_by, key, strict=True))}
            for key, total in sorted(sums.items(), key=lambda kv: str(kv[0]))]
