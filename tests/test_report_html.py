"""`cost report --html` and `demo --html`, rendered by a real browser (headless Chromium).

The report is built from real ledger data in Redis; Chromium loads the page with no
network, and the test reads what it rendered: the DOM it serialized (every chart's series
and values) and a screenshot (each series' color covers the area its bars claim). The
screenshot is kept in tmp_path, or written to docs/cost-report.png when
LLM_ROUTER_UPDATE_SCREENSHOT=1 (the one in docs/reports.md).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import redis
from PIL import Image

from routing.config.defaults import default_document
from routing.config.store import ConfigStore
from routing.keys import keyspace
from routing.prices.pricing import Usage, cost_micros
from routing.reports.html import key_spend
from routing.spend.budget import BudgetBook
from routing.spend.call_record import CallRecord
from routing.spend.ledger import Ledger
from tests.support.browser import Chromium, Element, elements
from tests.support.cli import run

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "cost-report.png"
DAYS = 7
# Earlier days' volume against today's: a week that rises and dips.
EARLIER = (0.55, 0.7, 0.95, 0.8, 1.15, 0.9)
SCALED = ("calls", "micros", "input_tokens", "output_tokens", "cache_read_tokens",
          "cache_write_tokens")


def settle_today(client: redis.Redis, namespace: str) -> str:
    """A day of calls on every model key, settled through the ledger; returns the day."""
    config = ConfigStore(client, namespace).init(author="report-html-test")
    ledger = Ledger(client, namespace)
    rnd = random.Random(13)
    volume = {"monitoring": 48, "classification": 60, "lookup": 40, "data_extraction": 30,
              "content_curation": 4, "code_review": 12, "code_generation": 14,
              "drafting": 10, "orchestration": 16, "strategic_decision": 3,
              "large_context_coding": 5}
    day = ""
    for key, n in sorted(volume.items()):
        for i in range(n):
            big = key in ("code_review", "code_generation") and i % 6 == 0
            model = "kimi-for-coding" if big else config.model_keys[key].model
            usage = Usage(rnd.randint(60_000, 120_000) if big else rnd.randint(800, 9_000),
                          rnd.randint(80, 1_500), rnd.choice((0, 0, 2_000)), 0)
            day = ledger.settle(CallRecord(
                f"{key}-{i}", f"{key}-{i}", key, model, config.models[model].tier, usage,
                cost_micros(usage, config.price_of(model))),
                window_seconds=config.budgets.window_seconds).day
    # and two shadow-trial calls, reported apart
    for i in range(2):
        usage = Usage(1_000 + i, 50, 0, 0)
        ledger.settle(CallRecord(
            f"classification-{i}", f"trial:classification-{i}:kimi-for-coding",
            "classification", "kimi-for-coding", "kimi", usage,
            cost_micros(usage, config.price_of("kimi-for-coding")), trial=True,
            budgets=("trial:classification:kimi-for-coding",)),
            window_seconds=config.budgets.window_seconds)
    return day


def write_earlier_days(client: redis.Redis, namespace: str, today: str) -> None:
    """The six days before `today` in the ledger's aggregate layout (the settle script's
    `<key>|<model>|<tier>|<metric>` fields): the ledger dates calls by the Redis clock, so
    past days cannot be settled; these scale today's totals."""
    rows = Ledger(client, namespace).day_aggregates(today).rows
    for back, factor in enumerate(reversed(EARLIER), start=1):
        day = (date.fromisoformat(today) - timedelta(days=back)).isoformat()
        fields = {f"{r.model_key}|{r.model}|{r.tier}|{name}": int(getattr(r, name) * factor)
                  for r in rows for name in SCALED}
        client.hset(f"{keyspace(namespace)}:ledger:{day}:agg", mapping=fields)


def charts(dom: str) -> dict[str, list[Element]]:
    """chart name -> its drawn elements (rects carrying data-micros), in document order."""
    out: dict[str, list[Element]] = {}
    for el in elements(dom):
        if el.tag != "rect" or "data-micros" not in el.attrs:
            continue
        holder = el if "data-chart" in el.attrs else el.parent
        assert holder is not None and "data-chart" in holder.attrs, el
        out.setdefault(holder.attrs["data-chart"], []).append(el)
    return out


def series_of(el: Element) -> str:
    return el.attrs.get("data-series") or (el.parent.attrs["data-series"] if el.parent else "")


def geometry(el: Element) -> tuple[float, float, float, float]:
    return tuple(float(el.attrs[k]) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def pixel_bounds(rects: list[Element]) -> tuple[int, int]:
    """Pixels a set of rects must cover at least (inner, unblended) and at most."""
    low = high = 0
    for el in rects:
        _, _, w, h = geometry(el)
        low += max(0, math.floor(w) - 1) * max(0, math.floor(h) - 1)
        high += (math.ceil(w) + 1) * (math.ceil(h) + 1)
    return low, high


def table_cells(dom: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', dom, re.S)
    assert table, f"no table {table_id}"
    body = table.group(1).split("<tbody>", 1)[1]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def assert_offline(page: str) -> None:
    for banned in ("http:", "https:", "<script", "<link", "@import", "url(", "<img",
                   "<iframe"):
        assert banned not in page.lower(), f"the page is not self-contained: {banned}"


def test_cost_report_page_draws_every_series_in_a_real_browser(
    env: dict[str, str], redis_client: redis.Redis, namespace: str, tmp_path: Path,
    chromium: Chromium,
) -> None:
    # Given a week of ledger data: today settled call by call, the days before in the
    # ledger's aggregate layout
    today = settle_today(redis_client, namespace)
    write_earlier_days(redis_client, namespace, today)
    page = tmp_path / "cost-report.html"

    # When the report is written as a page and as JSON, and printed as text
    done = run("cost", "report", "--day", today, "--days", str(DAYS), "--json",
               "--html", str(page))
    report: dict[str, Any] = json.loads(done.stdout)
    printed = run("cost", "report", "--day", today, "--days", str(DAYS)).stdout
    html = page.read_text("utf-8")
    assert_offline(html)
    dom = chromium.dump_dom(page)
    drawn = charts(dom)

    # Then the daily chart has one series per model key, a bar per day each, holding the
    # report's spend for that key and day, all drawn at one scale and stacked
    keys = sorted({r["model_key"] for r in report["rows"]})
    assert len(keys) == 11
    daily: dict[str, list[Element]] = {}
    for el in drawn["daily"]:
        daily.setdefault(series_of(el), []).append(el)
    assert sorted(daily) == keys
    for key, rects in daily.items():
        assert [r.attrs["data-day"] for r in rects] == report["days"], key
        want = [d["spend_micros_by_model_key"].get(key, 0) for d in report["trend"]]
        assert [int(r.attrs["data-micros"]) for r in rects] == want, key
        assert all(int(r.attrs["data-micros"]) > 0 for r in rects), key  # every key, every day
        assert all(geometry(r)[2] > 0 for r in rects)
    every = [r for rects in daily.values() for r in rects]
    tallest = max(every, key=lambda r: geometry(r)[3])
    px_per_micro = geometry(tallest)[3] / int(tallest.attrs["data-micros"])
    for r in every:  # heights are written to 0.01 px
        assert abs(geometry(r)[3] - px_per_micro * int(r.attrs["data-micros"])) <= 0.011
    for i, d in enumerate(report["trend"]):
        column = sorted((geometry(rects[i]) for rects in daily.values()), key=lambda g: g[1])
        for upper, lower in pairwise(column):
            assert abs(upper[1] + upper[3] - lower[1]) < 0.02, f"gap in {d['day']}"
        assert sum(d["spend_micros_by_model_key"].values()) == d["spend_micros"]

    # And routed spend stands against the report's counterfactuals
    naive = {series_of(el): int(el.attrs["data-micros"]) for el in drawn["naive"]}
    assert naive == {
        "routed": report["totals"]["spend_micros"],
        "most_expensive": report["naive"]["most_expensive"]["cost_micros"],
        "orchestration_default": report["naive"]["orchestration_default"]["cost_micros"],
    }
    assert naive["routed"] < naive["orchestration_default"] < naive["most_expensive"]

    # And the budgets are the budget book's, spent drawn against each limit
    status = {s.budget: s for s in BudgetBook(redis_client, namespace).status(
        ConfigStore(redis_client, namespace).read())}
    parts: dict[str, dict[str, int]] = {}
    for el in drawn["budgets"]:
        parts.setdefault(series_of(el), {})[el.attrs["data-part"]] = int(el.attrs["data-micros"])
    assert set(parts) == set(status)
    for name, drawn_parts in parts.items():
        s = status[name]
        assert drawn_parts == {"limit": s.limit_micros, "spent": s.spent_micros,
                               "reserved": s.reserved_micros}, name
    assert status["overall"].spent_micros == sum(
        d["spend_micros"] for d in report["trend"] if d["day"] == today)

    # And the top keys by cost, dearest first, at one scale
    top = [(series_of(el), int(el.attrs["data-micros"])) for el in drawn["top-keys"]]
    assert top == [(k, m) for k, m, _ in key_spend(report)]
    assert [m for _, m in top] == sorted((m for _, m in top), reverse=True)

    # And the table is the one `cost report` prints, cell for cell
    cells = table_cells(dom, "cost-table")
    lines = printed.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("model key")) + 2
    assert [[c for c in row if c] for row in cells] == [
        ln.split() for ln in lines[start:start + len(cells)]]
    assert len(table_cells(dom, "trend-table")) == DAYS
    # with the lines under it: the batches' (none here) and the shadow trials'
    trials = re.search(r'<p class="line" id="trials">(.*?)</p>', dom, re.S)
    assert trials is not None and 'id="batches"' not in dom
    assert trials.group(1) in printed.splitlines()
    assert trials.group(1).startswith(
        "shadow trials (own budgets; not in the totals or savings above): $0.000")
    assert trials.group(1).endswith("classification on kimi-for-coding 2 calls")

    # And the browser painted it: each key's color covers what its bars claim
    shot = chromium.screenshot(page, tmp_path / "cost-report.png")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    counts = {rgb: n for n, rgb in image.getcolors(maxcolors=1280 * 2000) or []}
    assert len(counts) > 50, "the screenshot is blank"
    colors = {series_of(el): el.attrs["fill"] for el in drawn["top-keys"]}
    top_rects = {series_of(el): el for el in drawn["top-keys"]}
    for key in keys:
        rgb = tuple(int(colors[key][i:i + 2], 16) for i in (1, 3, 5))
        low, high = pixel_bounds([*daily[key], top_rects[key]])
        assert low > 0
        legend = 12 * 12
        assert low <= counts.get(rgb, 0) <= high + legend, (key, low, counts.get(rgb), high)
    if os.environ.get("LLM_ROUTER_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot.read_bytes())


def test_demo_writes_the_page_of_its_day(tmp_path: Path, chromium: Chromium) -> None:
    # Given the offline demo (no Redis, no keys), asked for the page too
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ROUTER_")}
    page = tmp_path / "demo.html"
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--json", "--scale", "0.05", "--day-seconds",
         "0", "--html", str(page)],
        cwd=ROOT, env={**env, "LLM_ROUTER_REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    demo = json.loads(proc.stdout)
    assert f"wrote {page}" in proc.stderr
    assert_offline(page.read_text("utf-8"))
    # Then the page, as the browser drew it, holds the demo's spend per model key: the
    # demo report counts its tasks' call records, the page the ledger's aggregates
    drawn = charts(chromium.dump_dom(page))
    by_key: Counter[str] = Counter()
    for el in drawn["daily"]:
        by_key[series_of(el)] += int(el.attrs["data-micros"])
    assert dict(by_key) == {k["model_key"]: k["cost_micros"] for k in demo["model_keys"]}
    assert {series_of(el) for el in drawn["budgets"]} == {b["budget"] for b in demo["budgets"]}
    routed = next(el for el in drawn["naive"] if series_of(el) == "routed")
    assert int(routed.attrs["data-micros"]) == demo["totals"]["cost_micros"]


def test_names_are_escaped_and_an_empty_day_renders(
    env: dict[str, str], redis_client: redis.Redis, namespace: str, tmp_path: Path,
    chromium: Chromium,
) -> None:
    # Given a config without budgets and an empty ledger: a page with nothing to draw
    doc = default_document()
    doc["budgets"] = {}
    ConfigStore(redis_client, namespace).init(doc, author="report-html-test")
    empty = tmp_path / "empty.html"
    run("cost", "report", "--html", str(empty))
    dom = chromium.dump_dom(empty)
    assert charts(dom).get("daily") is None and charts(dom).get("budgets") is None
    assert [el.attrs["data-series"] for el in elements(dom)
            if el.attrs.get("data-chart") == "budgets"] == ["overall"]
    assert "$0 spent, $0 reserved; no limit" in dom
    # a model key the ledger accepts (no spaces, no '|') but HTML would not
    ledger = Ledger(redis_client, namespace)
    day = ledger.settle(CallRecord("t", "c", "<img>", "claude-haiku-4-5", "haiku",
                                   Usage(10, 10), 48)).day
    page = tmp_path / "odd.html"
    run("cost", "report", "--day", day, "--html", str(page))
    parsed = elements(chromium.dump_dom(page))
    assert not [el for el in parsed if el.tag == "img"]
    assert {series_of(el) for el in charts(chromium.dump_dom(page))["daily"]} == {"<img>"}


def test_html_into_a_missing_directory_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "page.html"
    result = run("cost", "report", "--html", str(target), code=2)
    assert "--html: directory" in result.stderr and "does not exist" in result.stderr
    assert not target.parent.exists()
    result = run("cost", "report", "--html", str(tmp_path), code=2)
    assert "is a directory" in result.stderr


@pytest.mark.parametrize("days", [1, 40])
def test_the_page_scales_its_axis_and_labels(
    env: dict[str, str], redis_client: redis.Redis, namespace: str, tmp_path: Path,
    days: int,
) -> None:
    today = settle_today(redis_client, namespace)
    page = tmp_path / "page.html"
    run("cost", "report", "--day", today, "--days", str(days), "--html", str(page))
    html = page.read_text("utf-8")
    day_labels = re.findall(r'<text [^>]*text-anchor="middle"[^>]*>([^<]+)</text>', html)
    assert 1 <= len(day_labels) <= 15
    assert day_labels[-1] == (today if days == 1 else today[5:])
