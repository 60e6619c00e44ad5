"""Prometheus metrics scraped over HTTP from a real Redis namespace and a real broker.

The ledger and config live in the test database (per-test namespace); broker messages go
to database 12 under a per-test `global_keyprefix`, and only the test's keys are deleted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu.transport.redis as kombu_redis
import pytest
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from routing.config.store import ConfigStore
from routing.errors import BudgetExceededError
from routing.prices.pricing import Usage, cost_micros
from routing.spend.budget import BudgetBook
from routing.spend.call_record import CallRecord, Outcome
from routing.spend.ledger import Ledger
from tests.support.redis import delete_matching
from tests.support.spend import CATALOG, by_hand
from tests.support.wait import wait_until
from workers.metrics.broker_depth import PRIORITY_SEP, PRIORITY_STEPS, queue_keys
from workers.metrics.http import MetricsServer, serve, serve_from_worker
from workers.metrics.source import RedisMetricsSource
from workers.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def broker_url(redis_url: str) -> str:
    return redis_url.rsplit("/", 1)[0] + "/12"


@pytest.fixture
def settings(redis_url: str, namespace: str, broker_url: str) -> Iterator[Settings]:
    prefix = f"{namespace}:broker:"
    settings = Settings(redis_url=redis_url, broker_url=broker_url, namespace=namespace,
                        broker_prefix=prefix)
    assert settings.broker_prefix == prefix, "the test must never touch unprefixed broker keys"
    yield settings
    delete_matching(broker_url, f"{prefix}*")


@pytest.fixture
def source(settings: Settings) -> Iterator[RedisMetricsSource]:
    src = RedisMetricsSource(settings)
    yield src
    src.close()


@pytest.fixture
def server(source: RedisMetricsSource) -> Iterator[MetricsServer]:
    srv = serve(source, host="127.0.0.1", port=0)
    yield srv
    srv.close()


def _celery(settings: Settings) -> Celery:
    app = Celery("metrics-test", broker=settings.broker_url, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": settings.broker_prefix}
    app.conf.broker_connection_retry_on_startup = True
    return app


def test_queue_keys_follow_kombu_redis_transport() -> None:
    assert kombu_redis.Channel.sep == PRIORITY_SEP
    assert tuple(kombu_redis.PRIORITY_STEPS) == PRIORITY_STEPS
    assert queue_keys("llm.haiku") == [
        "llm.haiku", "llm.haiku\x06\x163", "llm.haiku\x06\x166", "llm.haiku\x06\x169"
    ]
    assert queue_keys("llm.opus", "p:")[0] == "p:llm.opus"


def test_scrape_reports_ledger_budgets_config_and_queue_depth(
    settings: Settings, source: RedisMetricsSource, server: MetricsServer
) -> None:
    client = source.redis
    store = ConfigStore(client, settings.namespace)
    store.init(author="metrics-test")
    config = store.set_model("lookup", "claude-sonnet-4-6", author="metrics-test")
    assert config.version == 2

    ledger = Ledger(client, settings.namespace)
    haiku_usage = Usage(1200, 300, 400, 0)
    haiku_cost = cost_micros(haiku_usage, config.price_of("claude-haiku-4-5"))
    kimi_usage = Usage(60_000, 2_000)
    kimi_cost = cost_micros(kimi_usage, config.price_of("kimi-for-coding"))
    run = uuid.uuid4().hex[:8]
    records = [
        CallRecord(f"t1-{run}", f"c1-{run}", "monitoring", "claude-haiku-4-5", "haiku",
                   haiku_usage, haiku_cost),
        CallRecord(f"t2-{run}", f"c2-{run}", "monitoring", "claude-haiku-4-5", "haiku",
                   haiku_usage, haiku_cost),
        CallRecord(f"t3-{run}", f"c3-{run}", "monitoring", "claude-haiku-4-5", "haiku",
                   Usage(500, 0), cost_micros(Usage(500, 0), config.price_of("claude-haiku-4-5")),
                   outcome=Outcome.error, error="overloaded"),
        CallRecord(f"t4-{run}", f"c4-{run}", "code_review", "kimi-for-coding", "kimi",
                   kimi_usage, kimi_cost, fallback=True),
    ]
    for rec in records:
        ledger.settle(rec, window_seconds=config.budgets.window_seconds)
    refusal = BudgetExceededError(budget="model_key:strategic_decision", limit_micros=1,
                                  spent_micros=1, reserved_micros=0, needed_micros=5_000,
                                  resets_at="2100-01-01T00:00:00Z")
    ledger.record_deferral(refusal, task_id=f"t5-{run}", call_id=f"c5-{run}",
                           model_key="strategic_decision", model="claude-opus-4-6", tier="opus")

    app = _celery(settings)
    try:
        for priority in (0, 5, 9):
            app.send_task("llm.run", kwargs={"model_key": "lookup", "prompt": "x"},
                          queue="llm.haiku", priority=priority)
        app.send_task("llm.run", kwargs={"model_key": "strategic_decision", "prompt": "x"},
                      queue="llm.opus")
        with app.connection_for_write() as conn:
            channel: Any = conn.default_channel  # kombu's own count, to check our key names
            kombu_sizes = {q: channel._size(q) for q in ("llm.haiku", "llm.opus")}
    finally:
        app.close()
    assert kombu_sizes == {"llm.haiku": 3, "llm.opus": 1}

    samples = _scrape(server.port)

    assert _get(samples, "llm_router_up") == 1
    assert _get(samples, "llm_router_config_version") == store.version() == 2
    assert _get(samples, "llm_router_queue_depth", tier="haiku", queue="llm.haiku") == 3
    assert _get(samples, "llm_router_queue_depth", tier="opus", queue="llm.opus") == 1
    assert _get(samples, "llm_router_queue_depth", tier="sonnet", queue="llm.sonnet") == 0

    # Every ledger row, value for value.
    day = source.today()[0]
    rows = ledger.day_aggregates(day).rows
    assert len(rows) == 3
    for row in rows:
        lab = {"model_key": row.model_key, "model": row.model, "tier": row.tier}
        calls = "llm_router_calls_total"
        assert _get(samples, calls, **lab, outcome="ok") == row.calls - row.errors
        assert _get(samples, calls, **lab, outcome="error") == row.errors
        assert _get(samples, calls, **lab, outcome="deferred") == row.deferrals
        for kind in ("input", "output", "cache_read", "cache_write"):
            assert _get(samples, "llm_router_tokens_total", **lab, kind=kind) == getattr(
                row, f"{kind}_tokens")
        assert _get(samples, "llm_router_spend_usd_total", **lab) == pytest.approx(
            row.micros / 1e6)

    # And against what was recorded, independently of the aggregates' reader.
    haiku = {"model_key": "monitoring", "model": "claude-haiku-4-5", "tier": "haiku"}
    assert _get(samples, "llm_router_calls_total", **haiku, outcome="ok") == 2
    assert _get(samples, "llm_router_calls_total", **haiku, outcome="error") == 1
    assert _get(samples, "llm_router_tokens_total", **haiku, kind="input") == 2 * 1200 + 500
    assert _get(samples, "llm_router_tokens_total", **haiku, kind="output") == 600
    kimi = {"model_key": "code_review", "model": "kimi-for-coding", "tier": "kimi"}
    assert _get(samples, "llm_router_spend_usd_total", **kimi) == pytest.approx(kimi_cost / 1e6)
    assert _get(samples, "llm_router_rerouted_calls_total", **kimi, reason="fallback") == 1
    opus = {"model_key": "strategic_decision", "model": "claude-opus-4-6", "tier": "opus"}
    assert _get(samples, "llm_router_calls_total", **opus, outcome="deferred") == 1

    total = sum(r.cost_micros for r in records)
    status = {s.budget: s for s in BudgetBook(client, settings.namespace).status(config)}
    assert status["overall"].spent_micros == total
    assert _get(samples, "llm_router_budget_spent_usd", budget="overall") == pytest.approx(
        total / 1e6)
    assert _get(samples, "llm_router_budget_limit_usd", budget="overall") == 50
    assert _get(samples, "llm_router_budget_remaining_usd", budget="overall") == pytest.approx(
        50 - total / 1e6)
    monitoring = status["model_key:monitoring"]
    assert monitoring.remaining_micros is not None
    assert _get(samples, "llm_router_budget_remaining_usd",
                budget="model_key:monitoring") == pytest.approx(monitoring.remaining_micros / 1e6)

    # A config change shows at the next scrape.
    store.set_model("lookup", "claude-haiku-4-5", author="metrics-test")
    assert _get(_scrape(server.port), "llm_router_config_version") == 3


def test_counterfactual_spend_prices_the_days_tokens_on_the_dearest_model(
    settings: Settings, source: RedisMetricsSource, server: MetricsServer
) -> None:
    # Given calls on three tiers, settled through the ledger at the config's prices
    store = ConfigStore(source.redis, settings.namespace)
    config = store.init(author="metrics-test")
    ledger = Ledger(source.redis, settings.namespace)
    calls = [("monitoring", "claude-haiku-4-5", "haiku", (12_000, 300, 40_000, 0)),
             ("code_review", "claude-sonnet-4-6", "sonnet", (30_000, 2_000, 0, 2_000)),
             ("code_review", "kimi-for-coding", "kimi", (120_000, 4_000, 0, 0))]
    run = uuid.uuid4().hex[:8]

    def settle(i: int, key: str, model: str, tier: str, tokens: tuple[int, ...]) -> None:
        usage = Usage(*tokens)
        ledger.settle(CallRecord(f"t{i}-{run}", f"c{i}-{run}", key, model, tier, usage,
                                 cost_micros(usage, config.price_of(model))))

    for i, call in enumerate(calls):
        settle(i, *call)

    def expected() -> dict[str, int]:
        totals = tuple(sum(c[3][n] for c in calls) for n in range(4))
        return {m: by_hand(m, totals, CATALOG) for m in CATALOG}

    def counterfactual(samples: Samples) -> dict[str, tuple[str, float]]:
        found = {dict(labels)["basis"]: (dict(labels)["model"], value)
                 for (name, labels), value in samples.items()
                 if name == "llm_router_counterfactual_spend_usd_total"}
        assert len(found) == sum(1 for name, _ in samples
                                 if name == "llm_router_counterfactual_spend_usd_total")
        return found

    # When Prometheus scrapes
    samples = _scrape(server.port)
    # Then the day's tokens are priced, summed once, on the dearest catalog model and on
    # the orchestration key's model, recomputed here from the catalog written out by hand
    naive = expected()
    dearest = max(naive, key=lambda m: naive[m])
    assert dearest == "claude-opus-4-6"
    found = counterfactual(samples)
    assert found["most_expensive"][0] == dearest
    assert found["most_expensive"][1] == pytest.approx(naive[dearest] / 1e6, abs=1e-9)
    assert found["orchestration_default"] == ("claude-sonnet-4-6", pytest.approx(
        naive["claude-sonnet-4-6"] / 1e6, abs=1e-9))
    routed = sum(v for (name, _), v in samples.items() if name == "llm_router_spend_usd_total")
    assert routed == pytest.approx(sum(
        by_hand(m, tokens, CATALOG) for _, m, _, tokens in calls) / 1e6, abs=1e-9)
    assert routed < found["most_expensive"][1]

    # And "most expensive" is the catalog's dearest model by list price (the all-Opus
    # counterfactual), whatever the day's token mix: cache reads cost more on gpt-4o than
    # on Opus, and a day of mostly cache reads is still priced on Opus
    calls.append(("lookup", "claude-haiku-4-5", "haiku", (0, 0, 3_000_000, 0)))
    settle(len(calls) - 1, *calls[-1])
    naive = expected()
    assert max(naive, key=lambda m: naive[m]) == "gpt-4o"
    found = counterfactual(_scrape(server.port))
    assert found["most_expensive"] == ("claude-opus-4-6", pytest.approx(
        naive["claude-opus-4-6"] / 1e6, abs=1e-9))


def test_unreachable_redis_scrapes_as_down(namespace: str) -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{_free_port()}/0", namespace=namespace)
    src = RedisMetricsSource(settings)
    srv = serve(src, port=0)
    try:
        samples = _scrape(srv.port)
    finally:
        srv.close()
        src.close()
    assert _get(samples, "llm_router_up") == 0
    assert not any(name.startswith("llm_router_calls") for name, _ in samples)


def test_worker_serves_when_metrics_port_is_set(settings: Settings) -> None:
    assert serve_from_worker(settings) is None  # LLM_ROUTER_METRICS_PORT unset: off
    with_port = settings.model_copy(update={"metrics_port": _free_port()})
    first = serve_from_worker(with_port, host="127.0.0.1")
    assert first is not None
    try:
        # A second process on the same host: it goes on without its own endpoint.
        assert serve_from_worker(with_port, host="127.0.0.1") is None
        assert _get(_scrape(first.port), "llm_router_up") == 1
    finally:
        first.close()


def test_cli_serves_metrics_until_terminated(env: dict[str, str]) -> None:
    port = _free_port()
    cli = [sys.executable, "-c", "from cli import main; main()"]
    proc = subprocess.Popen(
        [*cli, "metrics", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        def scraped() -> Samples | None:
            try:
                return _scrape(port)
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()[1].decode()
                return None

        samples = wait_until(scraped, timeout=30, interval=0.1,
                             what="llm-router metrics serving")
        assert _get(samples, "llm_router_up") == 1
        assert _get(samples, "llm_router_config_version") == 0
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()

    once = subprocess.run([*cli, "metrics", "--once"], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, check=False)
    assert once.returncode == 0, once.stderr
    assert "llm_router_up 1.0" in once.stdout


def test_scrape_reports_trial_samples_spend_and_agreement_over_30_days(
    settings: Settings, source: RedisMetricsSource, server: MetricsServer
) -> None:
    from datetime import date, timedelta

    from routing.keys import day_key

    store = ConfigStore(source.redis, settings.namespace)
    store.init(author="metrics-test")

    def trial(doc: dict[str, Any]) -> str:
        doc["model_keys"]["classification"]["trials"] = [
            {"candidate": "kimi-for-coding", "sample": 0.5, "daily_budget_usd": 1}]
        return "trial"

    store.update(trial, author="metrics-test")
    ledger = Ledger(source.redis, settings.namespace)
    row = ("classification", "kimi-for-coding", "kimi")
    # Given today 9 agreeing and 1 disagreeing shadow samples, and one trial call's spend
    ledger.settle(CallRecord("t", "trial:t:kimi-for-coding", *row, Usage(1000, 100),
                             450, trial=True, budgets=("trial:classification:kimi-for-coding",)))
    ledger.count(row, {"samples": 10, "agree": 9, "disagree": 1}, trial=True)
    # and earlier days' samples: 10 agreeing 29 days ago (in the window), 10 disagreeing
    # 30 days ago (out of it), as the ledger's day aggregates hold them
    today = date.fromisoformat(source.today()[0])
    for back, verdict in ((29, "agree"), (30, "disagree")):
        day = (today - timedelta(days=back)).isoformat()
        key = day_key(ledger.prefix, day, "trial")
        for metric in ("samples", verdict):
            source.redis.hset(key, "|".join((*row, metric)), 10)
    # Then, with no routing review stored (the monthly cron has not run), a scrape shows
    samples = _scrape(server.port)
    labels = {"model_key": "classification", "candidate": "kimi-for-coding"}
    # today's counters
    assert _get(samples, "llm_router_trial_samples_total", **labels, verdict="agree") == 9
    assert _get(samples, "llm_router_trial_samples_total", **labels, verdict="disagree") == 1
    assert _get(samples, "llm_router_trial_spend_usd_total", **labels) == 0.00045
    # and the agreement of the last 30 days: 19 of 20
    assert _get(samples, "llm_router_trial_agreement", **labels, bound="estimate") == 0.95
    low = _get(samples, "llm_router_trial_agreement", **labels, bound="lower")
    high = _get(samples, "llm_router_trial_agreement", **labels, bound="upper")
    assert (low, high) == (0.7639, 0.9911)  # Wilson, 19 of 20
    assert _get(samples, "llm_router_trial_review_samples", **labels) == 20
    # and none of it is production spend
    assert not [k for k in samples if k[0] == "llm_router_spend_usd_total"]


def test_metrics_once_with_redis_down_exits_1_with_one_line() -> None:
    env = {**os.environ, "LLM_ROUTER_REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0"}
    done = subprocess.run([sys.executable, "-m", "cli", "metrics", "--once"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read the metrics" in lines[0], done.stderr


def test_scrape_reports_batched_calls_their_saving_and_the_batches_by_state(
    settings: Settings, source: RedisMetricsSource, server: MetricsServer
) -> None:
    from routing.batches.store import BatchStore, TaskRecord

    store = ConfigStore(source.redis, settings.namespace)
    config = store.init(author="metrics-test")
    price = config.price_of("claude-haiku-4-5")
    usage = Usage(800, 160)
    batched, direct = cost_micros(usage, price, batch=True), cost_micros(usage, price)
    assert (batched, direct) == (800, 1600)
    # Given two calls answered by a provider batch today
    ledger = Ledger(source.redis, settings.namespace)
    for n in range(2):
        ledger.settle(CallRecord(f"t{n}", f"t{n}:0:batch", "content_curation",
                                 "claude-haiku-4-5", "haiku", usage, batched,
                                 batch_id="msgbatch_1", direct_micros=direct))
    # and three calls waiting in an open batch, one of which closes and submits another
    batches = BatchStore(source.redis, settings.namespace)
    for n in range(3):
        batches.append(model="gpt-4o", provider="openai", provider_model="gpt-4o",
                       task_id=f"w{n}", item={}, max_items=2, max_wait_seconds=600,
                       record=TaskRecord(f"w{n}", 0, f"w{n}:0:batch", "gpt-4o", 1, {}))
    samples = _scrape(server.port)
    labels = {"model_key": "content_curation", "model": "claude-haiku-4-5", "tier": "haiku"}
    assert _get(samples, "llm_router_batch_calls_total", **labels) == 2
    assert _get(samples, "llm_router_batch_saved_usd_total", **labels) == 0.0016
    assert _get(samples, "llm_router_spend_usd_total", **labels) == 0.0016  # at batch rate
    for state, count, calls in (("open", 1, 1), ("submitting", 1, 2), ("submitted", 0, 0)):
        assert _get(samples, "llm_router_batches", state=state) == count
        assert _get(samples, "llm_router_batch_waiting_calls", state=state) == calls


def test_scrape_reports_the_price_drift_of_each_model_and_follows_an_update(
    settings: Settings, source: RedisMetricsSource, server: MetricsServer
) -> None:
    # Given a config that still has the strategy document's Opus price (3x the catalog's)
    store = ConfigStore(source.redis, settings.namespace)
    store.init(author="metrics-test")

    def old_opus(doc: dict[str, Any]) -> str:
        doc["models"]["claude-opus-4-6"]["price"].update(
            input="15", output="75", cache_read="1.5", cache_write="18.75")
        return "the old Opus price"

    store.update(old_opus, author="metrics-test")
    samples = _scrape(server.port)
    assert _get(samples, "llm_router_price_drift_ratio", model="claude-opus-4-6") == 3.0
    assert _get(samples, "llm_router_price_drift_ratio", model="claude-haiku-4-5") == 1.0
    assert ("llm_router_price_drift_ratio",
            frozenset({("model", "kimi-for-coding")})) not in samples  # not in the catalog
    # When the catalog's prices are written back, the next scrape shows no drift
    doc = store.read().document()
    doc["models"]["claude-opus-4-6"]["price"] = "catalog"
    store.write(doc, author="prices")
    assert _get(_scrape(server.port), "llm_router_price_drift_ratio",
                model="claude-opus-4-6") == 1.0
