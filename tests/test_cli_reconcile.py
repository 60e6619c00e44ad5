"""`llm-router cost reconcile` against the stand-in server's usage and cost reports (the
providers' published formats, paged) and a real Redis ledger."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import redis

from routing.config.defaults import default_document
from routing.config.models import RoutingConfig
from routing.config.store import ConfigStore
from routing.reports.reconciled import last_key, load_reconciliations
from tests.support.cli import run
from tests.support.llm_reports import ADMIN_KEYS
from tests.support.llm_server import LLMServer
from tests.support.reconcile import entry, past_day, point_at, seed_ledger

HAIKU = {"input": 120_000, "output": 30_000, "cache_read": 40_000, "cache_write": 10_000}
SONNET = {"input": 40_000, "output": 9_000}
GPT = {"input": 20_000, "output": 5_000, "cache_read": 2_000}
DAYS = [past_day(4), past_day(3), past_day(2)]  # final under the default 24 h delay
FLEET = "wrkspc_fleet"


@pytest.fixture
def config(env: dict[str, str], redis_client: redis.Redis, namespace: str) -> RoutingConfig:
    store = ConfigStore(redis_client, namespace)
    store.init(default_document(), author="test")
    return store.read()


@pytest.fixture
def stand_in(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> LLMServer:
    point_at(monkeypatch, llm_server)
    llm_server.reports.page_rows = 2  # every report comes in several pages
    return llm_server


def seed_fleet(client: redis.Redis, namespace: str, config: RoutingConfig,
               server: LLMServer, *, differing_day: str | None = None,
               factor: Decimal = Decimal("1.25")) -> None:
    """The same calls in the ledger and in both providers' reports, on every day of DAYS;
    on `differing_day` the bill is `factor` times the config's prices."""
    for day in DAYS:
        f = factor if day == differing_day else Decimal(1)
        seed_ledger(client, namespace, day, "monitoring", "claude-haiku-4-5", "haiku", HAIKU,
                    config)
        seed_ledger(client, namespace, day, "code_generation", "claude-sonnet-4-6", "sonnet",
                    SONNET, config)
        seed_ledger(client, namespace, day, "orchestration", "gpt-4o", "sonnet", GPT, config)
        server.reports.add(
            entry("anthropic", config, day, "claude-haiku-4-5", HAIKU, factor=f,
                  workspace=FLEET),
            entry("anthropic", config, day, "claude-sonnet-4-6", SONNET, factor=f,
                  workspace=FLEET),
            entry("openai", config, day, "gpt-4o", GPT, factor=f,
                  provider_model="gpt-4o-2024-08-06"),
        )


def reconcile(*args: str, code: int) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(run("cost", "reconcile", "--day", DAYS[-1], "--days",
                                         "3", *args, "--json", code=code).stdout)
    return out


def test_reconcile_finds_the_day_the_bill_differs(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str
) -> None:
    # Given three days of the same calls in the ledger and at Anthropic, whose bill on the
    # middle day is a quarter above the config's prices
    seed_fleet(redis_client, namespace, config, stand_in, differing_day=DAYS[1])
    # When the ledger is reconciled with Anthropic's reports
    out = reconcile("--provider", "anthropic", code=5)
    # Then exactly that day differs, on the bill's side (a price that drifted), per model
    (result,) = out["reconciliations"]
    assert out["exit_code"] == 5 and not out["ok"] and result["provisional"] == []
    assert {(g["day"], g["model"], g["check"]) for g in result["gaps"]} == {
        (DAYS[1], m, check) for m in ("claude-haiku-4-5", "claude-sonnet-4-6")
        for check in ("price", "spend")}
    price = next(g for g in result["gaps"] if g["check"] == "price")
    assert "drifted" in price["cause"] and price["difference"] > 0
    # every day and model was compared, tokens agreed everywhere
    lines = {(line["day"], line["model"]): line for line in result["lines"]}
    assert set(lines) == {(d, m) for d in DAYS for m in ("claude-haiku-4-5",
                                                           "claude-sonnet-4-6")}
    haiku = lines[(DAYS[0], "claude-haiku-4-5")]
    assert haiku["provider_tokens"] == haiku["ledger_tokens"] == {
        "input_tokens": 120_000, "output_tokens": 30_000, "cache_read_tokens": 40_000,
        "cache_write_tokens": 10_000}
    # the reports were read page by page (two rows a page)
    usage_calls = [c for c in stand_in.reports.calls if c[0].endswith("/usage")]
    assert len(usage_calls) == 3 and usage_calls[1][1]["page"] == ["page_2"]
    # and the result is stored as Anthropic's last reconciliation, without the admin key
    stored = load_reconciliations(redis_client, namespace)
    assert stored["anthropic"]["gaps"] == result["gaps"]
    assert ADMIN_KEYS["anthropic"] not in str(redis_client.get(last_key(namespace,
                                                                         "anthropic")))
    # The text output names the day, the check and the cause
    text = run("cost", "reconcile", "--day", DAYS[-1], "--days", "3", "--provider",
               "anthropic", code=5).stdout
    assert f"{DAYS[1]} claude-haiku-4-5 price: $+" in text and "drifted" in text
    assert ADMIN_KEYS["anthropic"] not in text


def test_openai_dollars_and_dated_model_ids_reconcile_within_tolerance(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str
) -> None:
    seed_fleet(redis_client, namespace, config, stand_in)
    out = reconcile("--provider", "openai", code=0)
    (result,) = out["reconciliations"]
    assert result["ok"] and result["gaps"] == []
    # gpt-4o-2024-08-06 at OpenAI is the config's gpt-4o; costs summed over line items
    assert {(line["model"], line["provider_model"]) for line in result["lines"]} == {
        ("gpt-4o", "gpt-4o-2024-08-06")}
    line = result["lines"][0]
    assert line["provider_micros"] == line["priced_micros"]
    assert abs(line["provider_micros"] - line["ledger_micros"]) <= 2
    assert all(c[1]["group_by"] for c in stand_in.reports.calls)


def test_openai_day_where_the_bill_differs(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str
) -> None:
    seed_fleet(redis_client, namespace, config, stand_in, differing_day=DAYS[0],
               factor=Decimal("0.5"))
    out = reconcile("--provider", "openai", code=5)
    gaps = out["reconciliations"][0]["gaps"]
    assert {(g["day"], g["check"]) for g in gaps} == {(DAYS[0], "price"), (DAYS[0], "spend")}
    assert all(g["difference"] < 0 for g in gaps)


def test_usage_outside_the_fleet_is_blamed_on_the_ledger_unless_filtered(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.settings import get_settings

    # Given the fleet's usage and, on the first day, another system's calls on the same
    # organization in its default workspace (a null workspace)
    seed_fleet(redis_client, namespace, config, stand_in)
    stand_in.reports.add(entry("anthropic", config, DAYS[0], "claude-haiku-4-5",
                               {"input": 50_000, "output": 10_000}, workspace=None))
    # Without a workspace configured they are calls the ledger never saw
    gaps = reconcile("--provider", "anthropic", code=5)["reconciliations"][0]["gaps"]
    assert {(g["day"], g["check"]) for g in gaps} == {(DAYS[0], "tokens"), (DAYS[0], "spend")}
    tokens = next(g for g in gaps if g["check"] == "tokens")
    assert tokens["difference"] == 60_000 and "never saw" in tokens["cause"]
    # With the fleet's workspace configured, they are not the ledger's business
    monkeypatch.setenv("LLM_ROUTER_RECONCILE_ANTHROPIC_WORKSPACE", FLEET)
    get_settings.cache_clear()
    result = reconcile("--provider", "anthropic", code=0)["reconciliations"][0]
    assert result["ok"] and result["filters"] == {"workspace": FLEET}
    assert stand_in.reports.calls[-1][1]["workspace_ids"] == [FLEET]


def test_a_model_the_config_lacks_and_calls_counted_twice(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str
) -> None:
    seed_fleet(redis_client, namespace, config, stand_in)
    seed_ledger(redis_client, namespace, DAYS[2], "monitoring", "claude-haiku-4-5", "haiku",
                HAIKU, config)  # settled twice
    stand_in.reports.add(entry("anthropic", config, DAYS[1], "claude-haiku-4-5",
                               {"input": 1_000_000}, provider_model="claude-opus-9"))
    gaps = reconcile("--provider", "anthropic", code=5)["reconciliations"][0]["gaps"]
    causes = {(g["day"], g["model"], g["check"]): g["cause"] for g in gaps}
    assert "counted twice" in causes[(DAYS[2], "claude-haiku-4-5", "tokens")]
    assert "config does not have" in causes[(DAYS[1], "claude-opus-9", "tokens")]


def test_today_is_provisional(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str
) -> None:
    today = past_day(0)
    seed_ledger(redis_client, namespace, today, "monitoring", "claude-haiku-4-5", "haiku",
                HAIKU, config)
    stand_in.reports.add(entry("anthropic", config, today, "claude-haiku-4-5", HAIKU))
    out = json.loads(run("cost", "reconcile", "--day", "today", "--provider", "anthropic",
                         "--json").stdout)
    assert out["reconciliations"][0]["provisional"] == [today] and out["ok"]
    text = run("cost", "reconcile", "--day", "today", "--provider", "anthropic").stdout
    assert "provisional" in text and "not final yet" in text


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_missing_admin_key_is_refused_and_nothing_is_read_or_stored(
    config: RoutingConfig, llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis, namespace: str, provider: str,
) -> None:
    point_at(monkeypatch, llm_server, admin_keys=False)
    result = run("cost", "reconcile", "--provider", provider, code=2)
    variable = f"{provider.upper()}_ADMIN_KEY"
    assert result.stderr.count("\n") == 1 and f"set {variable}" in result.stderr
    doc = json.loads(run("cost", "reconcile", "--json", code=2).stdout)
    assert doc["exit_code"] == 2 and "ANTHROPIC_ADMIN_KEY or OPENAI_ADMIN_KEY" in doc["error"]
    assert llm_server.reports.calls == []
    assert load_reconciliations(redis_client, namespace) == {}


def test_a_failing_report_exits_1_and_stores_nothing(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str
) -> None:
    seed_fleet(redis_client, namespace, config, stand_in)
    stand_in.reports.fail(500, times=3)  # the SDK's two retries fail too
    result = run("cost", "reconcile", "--provider", "anthropic", code=1)
    assert "answered 500" in result.stderr and result.stderr.count("\n") == 1
    assert load_reconciliations(redis_client, namespace) == {}


def test_a_key_that_is_not_an_admin_key_exits_1(
    config: RoutingConfig, stand_in: LLMServer, monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis, namespace: str,
) -> None:
    from workers.settings import get_settings

    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-not-an-admin-key-test")
    get_settings.cache_clear()
    result = run("cost", "reconcile", "--provider", "openai", code=1)
    assert "answered 401" in result.stderr and "OPENAI_ADMIN_KEY" in result.stderr
    assert "sk-not-an-admin-key-test" not in result.stderr + result.stdout
    assert load_reconciliations(redis_client, namespace) == {}


def test_a_report_that_pages_forever_exits_1_and_stores_nothing(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str
) -> None:
    seed_fleet(redis_client, namespace, config, stand_in)
    stand_in.reports.endless()
    for provider in ("anthropic", "openai"):
        result = run("cost", "reconcile", "--provider", provider, code=1)
        assert "pages forever" in result.stderr and result.stderr.count("\n") == 1
    assert load_reconciliations(redis_client, namespace) == {}


def test_a_bad_day_is_refused(config: RoutingConfig, stand_in: LLMServer) -> None:
    assert "YYYY-MM-DD" in run("cost", "reconcile", "--day", "yesterday", code=2).stderr
    assert "future" in run("cost", "reconcile", "--day", "2999-01-01", code=2).stderr
    assert stand_in.reports.calls == []


def test_the_cost_report_and_the_metrics_show_the_last_reconciliation(
    config: RoutingConfig, stand_in: LLMServer, redis_client: redis.Redis, namespace: str
) -> None:
    from prometheus_client.core import Metric

    from workers.metrics.collector import RouterCollector
    from workers.metrics.source import RedisMetricsSource
    from workers.settings import get_settings

    seed_fleet(redis_client, namespace, config, stand_in, differing_day=DAYS[1])
    out = reconcile("--provider", "anthropic", code=5)["reconciliations"][0]
    # The cost report carries it (JSON) and prints its line
    report = json.loads(run("cost", "report", "--json").stdout)
    shown = report["reconciliations"]["anthropic"]
    assert shown["gaps"] == len(out["gaps"]) == 4 and shown["days"] == DAYS
    assert shown["difference_micros"] == out["difference_micros"] > 0
    text = run("cost", "report").stdout
    assert f"reconciled anthropic {DAYS[0]}..{DAYS[-1]}" in text and "4 difference(s)" in text
    # The metrics expose the difference
    source = RedisMetricsSource(get_settings())
    try:
        metrics: list[Metric] = list(RouterCollector(source).collect())
    finally:
        source.close()
    values = {(m.name, s.labels.get("provider")): s.value for m in metrics
              for s in m.samples if m.name.startswith("llm_router_reconcile")}
    assert values[("llm_router_reconcile_gaps", "anthropic")] == 4
    assert values[("llm_router_reconcile_difference_usd", "anthropic")] == pytest.approx(
        out["difference_micros"] / 1_000_000)
    assert ("llm_router_reconcile_gaps", "openai") not in values


def test_the_daily_beat_job_reconciles_the_newest_final_day_and_stores_it(
    worker: Any, llm_server: LLMServer, redis_url: str
) -> None:
    from routing.connect import connect
    from workers.providers.usage_reports.reconciling import newest_final_day
    from workers.settings import get_settings

    # Given the newest final day in the workers' ledger, billed at a drifted price
    client = connect(redis_url)
    config = worker.store.read()
    day = newest_final_day(get_settings()).isoformat()
    for key in client.scan_iter(match=last_key(worker.namespace, "*")):
        client.delete(key)
    seed_ledger(client, worker.namespace, day, "monitoring", "claude-haiku-4-5", "haiku",
                HAIKU, config)
    llm_server.reports.add(entry("anthropic", config, day, "claude-haiku-4-5", HAIKU,
                                 factor=Decimal(2)))
    # When Beat's daily job runs (both admin keys are set in the workers' environment)
    out = worker.app.send_task("cron.reconcile").get(timeout=30)
    # Then each provider was reconciled for that day and the result stored
    assert out["day"] == day
    assert out["anthropic"] == {"ok": False, "gaps": 2} and out["openai"]["ok"]
    stored = load_reconciliations(client, worker.namespace)
    assert stored["anthropic"]["days"] == [day] and len(stored["anthropic"]["gaps"]) == 2
    client.close()
