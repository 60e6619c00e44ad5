"""`llm-router plan` against a real Redis: the stored config, the ledger's measurements,
the two outputs, and refused input (exit 2, nothing computed)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import redis

from routing.config.defaults import default_config
from routing.config.store import ConfigStore
from routing.prices.pricing import Usage, cost_micros
from routing.spend.call_record import CallRecord
from routing.spend.ledger import Ledger
from tests.support.cli import as_json, run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def deployment(env: dict[str, str], redis_client: redis.Redis, namespace: str) -> Ledger:
    """A stored config and 30 lookups on Haiku today: 2 s each, 1,000 in / 100 out."""
    ConfigStore.from_url(env["LLM_ROUTER_REDIS_URL"], namespace).init(author="tests")
    ledger = Ledger(redis_client, namespace)
    price = default_config().price_of("claude-haiku-4-5")
    for i in range(30):
        usage = Usage(1000, 100)
        ledger.settle(CallRecord(task_id=f"t{i}", call_id=f"c{i}", model_key="lookup",
                                 model="claude-haiku-4-5", tier="haiku", usage=usage,
                                 cost_micros=cost_micros(usage, price), latency_ms=2000.0))
    return ledger


def test_plan_uses_the_stored_config_and_the_measured_latency(deployment: Ledger) -> None:
    doc = as_json("plan", "--calls-per-day", "lookup=86400",
                  "--calls-per-day", "strategic_decision=100", "--days", "3")
    lookup = next(k for k in doc["model_keys"] if k["model_key"] == "lookup")
    # 1 call/s x 2 s (the ledger's mean) = 2 busy slots; / 0.7 -> 3 slots, 1 replica
    assert lookup["latency_source"] == "measured mean (n=30, 3d)"
    assert (lookup["latency_seconds"], lookup["input_tokens"], lookup["output_tokens"]) == (
        2.0, 1000, 100)
    # 1,000 x 1 + 100 x 5 = 1,500 micro-dollars a call
    assert lookup["cost_per_day_micros"] == 1_500 * 86_400
    haiku = next(t for t in doc["tiers"] if t["tier"] == "haiku")
    assert (haiku["slots"], haiku["replicas"]) == (3, 1)
    opus = next(k for k in doc["model_keys"] if k["model_key"] == "strategic_decision")
    assert opus["latency_source"] == "default"
    assert doc["config_version"] == 1 and doc["utilization"] == 0.7

    text = run("plan", "--calls-per-day", "lookup=86400", "--latency-stat", "p95").stdout
    assert "measured p95 (n=30, 7d)" in text
    assert "total: " in text and "replicas" in text


@pytest.mark.parametrize(("args", "says"), [
    (["--calls-per-day", "lookup=-1"], "--calls-per-day: 'lookup=-1': a number of calls"),
    (["--calls-per-day", "typo=5"], "--calls-per-day: unknown model key 'typo'"),
    (["--calls-per-day", "lookup=5", "--latency", "lookup=0"], "--latency: 'lookup=0'"),
    (["--calls-per-day", "lookup=5", "--tokens", "lookup=5"], "--tokens: 'lookup=5'"),
    (["--calls-per-day", "lookup=5", "--utilization", "0"], "--utilization: must be in"),
])
def test_bad_input_is_refused_with_exit_2_naming_the_flag(
    deployment: Ledger, args: list[str], says: str
) -> None:
    result = run("plan", *args, "--json", code=2)
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 2 and doc["error"].startswith(says), doc
    assert says in result.stderr


def test_plan_on_paper_from_a_config_file_needs_no_redis(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    from workers.settings import get_settings

    monkeypatch.setenv("LLM_ROUTER_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    # the stored config is out of reach: exit 1, one line
    unreachable = run("plan", "--calls-per-day", "lookup=5", "--json", code=1)
    assert json.loads(unreachable.stdout)["exit_code"] == 1
    doc = as_json("plan", "--file", str(ROOT / "routing/config/default_config.yaml"),
                  "--calls-per-day", "lookup=1000000")
    assert doc["total"]["replicas"] == 2
    assert {k["latency_source"] for k in doc["model_keys"]} == {"default"}


def test_the_documented_example_is_the_real_output(
    env: dict[str, str], namespace: str
) -> None:
    """docs/planning.md's example fleet, run on a fresh deployment, prints what it shows."""
    page = (ROOT / "docs/planning.md").read_text("utf-8")
    start = page.index("$ llm-router plan ")
    block = page[start:page.index("```", start)].rstrip("\n").split("\n")
    args = shlex.split(block[0].removeprefix("$ llm-router "))
    ConfigStore.from_url(env["LLM_ROUTER_REDIS_URL"], namespace).init(author="tests")
    assert run(*args).stdout.rstrip("\n").split("\n") == block[1:]
