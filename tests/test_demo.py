"""`llm-router demo`: offline with nothing but Python (no Redis, no keys), and against a
real Redis with subprocess workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import pytest
import redis

from cli.demo.workload import load_workload, timeline
from routing.config.defaults import default_config
from routing.config.store import ConfigStore
from routing.prices.pricing import Usage, cost_micros
from routing.reports.report import TOKENS
from tests.support.celery import ALL_QUEUES, ROOT, WorkerProcess
from tests.support.redis import delete_namespace

CLI = [sys.executable, "-m", "cli"]
SUMMED = ("calls", "errors", *TOKENS, "cost_micros")
PROVIDER_VARS = ("ANTHROPIC", "OPENAI", "MOONSHOT", "GEMINI", "GOOGLE")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any llm-router or provider variable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LLM_ROUTER_") and not k.startswith(PROVIDER_VARS)}
    return {**env, **extra}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(
    env: dict[str, str], *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "demo", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def check_report(report: dict[str, Any]) -> None:
    """What every demo report must show, offline or on Redis."""
    config = default_config()
    t = report["tasks"]
    assert t["failed"] == 0 and t["pending"] == 0, t
    assert t["succeeded"] == t["sent"]
    keys = {k["model_key"]: k for k in report["model_keys"]}
    assert set(keys) == set(config.model_keys)

    # totals are the sum of the rows, and of the per-key lines
    for name in SUMMED:
        assert report["totals"][name] == sum(r[name] for r in report["rows"]), name
        assert report["totals"][name] == sum(k[name] for k in report["model_keys"]), name
    assert report["totals"]["calls"] > 0 and report["totals"]["cost_micros"] > 0

    # every row names its queue: the tier's queue of the model that served it
    for row in report["rows"]:
        assert row["queue"] == config.tiers[config.models[row["model"]].tier].queue

    # the large-context calls tripped the 50,000-token rule
    for key in ("code_review", "code_generation"):
        big = [r for r in report["rows"] if r["model_key"] == key
               and r["rules"].get("large_context_to_kimi")]
        assert [r["model"] for r in big] == ["kimi-for-coding"], key
        assert big[0]["queue"] == "llm.kimi"
        assert big[0]["input_tokens"] >= 50_000 * big[0]["rules"]["large_context_to_kimi"]
        assert config.model_keys[key].model in keys[key]["models"]  # the small ones
    assert keys["large_context_coding"]["models"] == ["kimi-for-coding"]

    # the live change: the changed key on two models, one per config version
    change = report["live_change"]
    assert change["model_key"] == "lookup" and change["to"] == "kimi-for-coding"
    assert change["version"] == change["version_before"] + 1
    assert change["restored_version"] > change["version"]
    changed = {r["model"]: r for r in report["rows"] if r["model_key"] == "lookup"}
    assert set(changed) == {"claude-haiku-4-5", "kimi-for-coding"}
    assert changed["claude-haiku-4-5"]["config_versions"] == [change["version_before"]]
    assert changed["kimi-for-coding"]["config_versions"] == [change["version"]]
    assert changed["kimi-for-coding"]["queue"] == "llm.kimi"

    # naive comparisons: the same tokens at the config's prices, never cheaper than routed
    usage = Usage(*(report["totals"][t] for t in TOKENS))
    for name, model in (("all_on_opus", "claude-opus-4-6"),
                        ("all_on_sonnet", "claude-sonnet-4-6")):
        naive = report["naive"][name]
        assert naive["model"] == model
        assert naive["cost_micros"] == cost_micros(usage, config.price_of(model))
        assert naive["cost_micros"] >= report["totals"]["cost_micros"]
    assert report["naive"]["all_on_opus"]["cost_micros"] > report["naive"]["all_on_sonnet"][
        "cost_micros"]

    budgets = {b["budget"]: b for b in report["budgets"]}
    assert budgets["overall"]["limit_micros"] == 50_000_000

    # the monitoring and curation crons' work ran in provider batches, at half price
    batches = report["batches"]
    assert batches["model_keys"] == ["content_curation", "monitoring"]
    assert batches["calls"] == keys["monitoring"]["calls"] + keys["content_curation"]["calls"]
    assert 1 <= batches["batches"] <= batches["calls"]
    assert batches["saved_micros"] == batches["direct_micros"] - batches["cost_micros"] > 0
    # half price, but for the half-up rounding of each call's cost
    assert abs(batches["cost_micros"] * 2 - batches["direct_micros"]) <= batches["calls"]

    # the shadow trials: every successful task of a trial key was replayed and scored
    review = report["review"]["model_keys"]
    assert set(review) == {"classification", "code_review"}
    (kimi,) = review["classification"]["trials"]
    assert kimi["candidate"] == "kimi-for-coding"
    # typed ones compared field by field; free-text llm.run ones (no judge) unjudged
    assert kimi["samples"] + kimi["unjudged"] == keys["classification"]["calls"]
    (gemini,) = review["code_review"]["trials"]
    assert gemini["candidate"] == "gemini-2.5-pro" and gemini["samples"] >= 1
    # why the task count and the call count differ, adding up
    b, kinds = report["tasks_and_calls"], t["by_kind"]
    assert b["tasks"] == t["sent"] == b["sent"] + b["handed_on_by_crons"]
    assert b["cron_runs"] == kinds["cron"] and b["handed_on_by_crons"] == kinds["cron work"]
    assert b["calls"] == report["totals"]["calls"]
    assert b["calls"] == b["tasks_with_calls"] + b["extra_calls"] and b["extra_calls"] >= 0
    assert b["tasks_without_calls"] == b["tasks"] - b["tasks_with_calls"]
    # a cron run calls no model itself; every other task called one (nothing failed)
    assert b["tasks_without_calls"] == b["cron_runs_without_calls"] == kinds["cron"]
    assert b["other_tasks_without_calls"] == 0


def test_offline_demo_needs_no_redis_and_no_keys() -> None:
    env = clean_env(LLM_ROUTER_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    # Not timed: the demo fails by itself (exit 1, "got no answer") when no result comes
    # for --timeout seconds, so a stall fails the test and a loaded machine does not
    proc = run_demo(env, "--json", "--timeout", "30", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # exactly one JSON document on stdout
    check_report(report)
    assert report["mode"] == "offline"
    # it says which config it ran: the shipped one, and what it changed for the day
    config = report["config"]
    assert config["started_from"].startswith("the shipped default config")
    changes = " ".join(c["summary"] for c in config["demo_changes"])
    assert ("provider batches for monitoring (the config it started from calls monitoring "
            "directly)") in changes
    assert "shadow trials" in changes and "lookup" in changes
    assert len(report["workers"]) == 4  # one per tier

    # one compressed day: the crons at their cadence, every ad-hoc call, through workers
    events = timeline(load_workload())
    kinds = report["tasks"]["by_kind"]
    keys = {k["model_key"]: k for k in report["model_keys"]}
    assert kinds["cron"] == 48 + 4
    assert keys["monitoring"]["calls"] == 48
    # a curation run drains the inbox: one that starts late finds it empty and skips
    assert 1 <= keys["content_curation"]["calls"] <= 4
    assert kinds["cron work"] == 48 + keys["content_curation"]["calls"]
    assert report["tasks"]["sent"] == len(events) + kinds["cron work"]
    assert report["totals"]["calls"] >= 300
    assert "sent" in proc.stderr and "done" in proc.stderr  # progress on stderr
    # one trial the review recommends, one it rejects (the simulated error rates)
    review = report["review"]["model_keys"]
    switch = review["classification"]["recommendation"]
    assert (switch["action"], switch["to"]) == ("switch", "kimi-for-coding")
    assert switch["monthly_saving_usd"] > 0
    keep = review["code_review"]["recommendation"]
    assert keep["action"] == "keep" and "agreement too low" in keep["reason"]
    # the day's typed answers of both trial keys are distinct inputs, and the candidates'
    # agreement is about 1 - their simulated error rate: Kimi's 0.02 is the share of its
    # prompt-convention replies that lose the JSON format (it has no native structured
    # output), Gemini's 0.2 that of wrong answers: measured 0.987 on 300 samples and 0.825
    # on 40
    for task, field in (("tasks.classification", "text"), ("tasks.code_review", "guidelines")):
        given = [e.kwargs[field] for e in events if e.task == task and e.kind == "adhoc"]
        assert len(set(given)) == len(given) > 1, task
    (kimi,) = review["classification"]["trials"]
    (gemini,) = review["code_review"]["trials"]
    assert (kimi["samples"], gemini["samples"]) == (300, 40)
    assert kimi["agreement"] == pytest.approx(0.98, abs=0.02)
    assert gemini["agreement"] == pytest.approx(0.80, abs=0.05)
    # a new model evaluated the same day: the day's classification calls recorded, a
    # cheaper catalog model with a batch API proposed and trialled, the samples replayed
    # on it at the batch price, and the review's recommendation appears
    replay = report["replay"]
    assert replay["model_key"] == "classification" and replay["recorded"] >= 300
    assert replay["candidate"]["new"] and replay["candidate"]["provider"] in (
        "anthropic", "openai")
    assert replay["replay"]["batch"] and replay["replay"]["sent"] == replay["recorded"]
    # (a new model's capabilities are not in the catalog: it answers by the prompt
    # convention, which loses the format at the workload's rate, about 2%)
    assert replay["replay"]["counts"]["agree"] >= 280 and not replay["replay"]["stopped"]
    assert replay["trial"]["replay"]["samples"] >= 300 and replay["trial"]["live"][
        "samples"] == 0
    rec = replay["recommendation"]
    assert (rec["action"], rec["to"]) == ("switch", replay["candidate"]["model"])
    assert "replay 3" in rec["reason"]
    # typed outputs per mechanism: native structured output never loses the format; the
    # prompt convention (Kimi: the afternoon's lookups, long context, its trial replays)
    # does, at the workload's rate
    typed = report["structured_output"]
    assert typed["format_error_rate"] == 0.02
    assert typed["native"]["answers"] > 300 and typed["native"]["invalid_outputs"] == 0
    assert typed["native"]["trial_invalid"] == 0
    assert typed["prompt"]["answers"] >= 10
    assert typed["prompt"]["trial_samples"] == kimi["samples"]
    assert typed["prompt"]["trial_invalid"] == kimi["candidate_invalid"] > 0
    assert typed["failed_invalid"] == 0
    # an agent's tool-calling loop ran through llm.run offline: two tool calls, an answer
    loop = report["agent_loop"]
    assert [(t["stop_reason"], t["tools"]) for t in loop["turns"]] == [
        ("tool_use", ["get_weather"]), ("tool_use", ["get_time"]), ("end_turn", [])]
    assert loop["cost_micros"] > 0


def test_offline_demo_prints_a_readable_report() -> None:
    env = clean_env(LLM_ROUTER_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    proc = run_demo(env, "--scale", "0.05", "--day-seconds", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for text in ("model key", "classification", "kimi-for-coding", "llm.kimi",
                 "live change at 12:00", "50,000-token rule", "all on opus (claude-opus-4-6)",
                 "all on sonnet (claude-sonnet-4-6)", "overall",
                 "is the cheaper model good enough?", "95% interval", "gemini-2.5-pro",
                 "that the crons handed on to typed tasks", "provider calls: ",
                 "tasks called none: ", "provider batches: ", "at direct prices): saved $",
                 "config: the shipped default config (version 1), changed for the day",
                 "calls monitoring directly",
                 "typed outputs (native structured output vs the prompt convention",
                 "agent loop (orchestration, 2 tools, 3 turns on claude-sonnet-4-6): "
                 "tool_use get_weather -> tool_use get_time -> end_turn"):
        assert text in out, text


@pytest.fixture
def demo_env(redis_url: str) -> Iterator[dict[str, str]]:
    namespace = f"llmr-demo-{uuid.uuid4().hex[:8]}"
    env = clean_env(LLM_ROUTER_REDIS_URL=redis_url, LLM_ROUTER_NAMESPACE=namespace,
                    LLM_ROUTER_BROKER_PREFIX=f"{namespace}:broker:")
    yield env
    delete_namespace(redis_url, namespace)


def test_demo_against_redis_and_its_workers(redis_url: str, demo_env: dict[str, str]) -> None:
    from cli.demo.namespace import claim

    namespace = demo_env["LLM_ROUTER_NAMESPACE"]
    store = ConfigStore.from_url(redis_url, namespace)
    claim(store.redis, store)  # the demo's namespace (as a run of the demo leaves it)
    store.init(author="tests")  # workers load the config at start
    worker = WorkerProcess(demo_env, ALL_QUEUES, "demo", concurrency=8, extra_env={
        "LLM_ROUTER_PROVIDER_MODE": "simulated", "LLM_ROUTER_SIMULATED_LATENCY": "0.01"})
    try:
        worker.wait_ready()
        proc = run_demo(demo_env, "--redis-url", redis_url, "--namespace", namespace,
                        "--json", "--scale", "0.05", "--day-seconds", "0", "--timeout", "30")
        assert proc.returncode == 0, proc.stderr[-3000:] + worker.output()[-3000:]
    finally:
        worker.stop()
    report = json.loads(proc.stdout)
    check_report(report)
    assert report["mode"] == "redis"
    assert report["workers"] == [worker.name]
    # the route was put back and the trials ended: the deployment is left as found
    after = store.read()
    assert after.model_keys["lookup"].model == "claude-haiku-4-5"
    assert not any(spec.trials for spec in after.model_keys.values())
    assert after.model_keys["monitoring"].batch is None  # batched for the day only
    assert store.version() == report["live_change"]["restored_version"]


def test_demo_against_redis_without_workers_says_so(
    redis_url: str, demo_env: dict[str, str]
) -> None:
    proc = run_demo(demo_env, "--redis-url", redis_url, "--json", "--scale", "0.05",
                    "--namespace", demo_env["LLM_ROUTER_NAMESPACE"])
    assert proc.returncode == 1
    # --json: the one JSON document on stdout is the error
    assert json.loads(proc.stdout) == {"error": ANY, "exit_code": 1}
    assert "no worker answered" in json.loads(proc.stdout)["error"]
    assert "no worker answered" in proc.stderr and "nothing was sent" in proc.stderr
    broker = redis.Redis.from_url(redis_url)
    try:
        prefix = demo_env["LLM_ROUTER_BROKER_PREFIX"]
        assert not [k for k in broker.scan_iter(match=f"{prefix}llm.*")]
    finally:
        broker.close()


def test_demo_refuses_a_namespace_holding_a_deployments_config(
    redis_url: str, demo_env: dict[str, str]
) -> None:
    # Given a deployment's namespace: a routing config with its history, and the
    # environment pointing at it (as an operator's shell would)
    namespace = demo_env["LLM_ROUTER_NAMESPACE"]
    store = ConfigStore.from_url(redis_url, namespace)
    store.init(author="ops")
    store.set_model("lookup", "claude-sonnet-4-6", author="ops")
    version, history = store.version(), store.history()
    client = redis.Redis.from_url(redis_url)
    try:
        keys = sorted(client.scan_iter(match=f"{{{namespace}}}:*"))
        # When the demo is pointed at that namespace
        proc = run_demo(demo_env, "--redis-url", redis_url, "--namespace", namespace,
                        "--scale", "0.05", "--timeout", "5")
        # Then it is refused in one line, exit 2, and nothing of the namespace moved
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.strip().count("\n") == 0, proc.stderr
        assert f"namespace '{namespace}' holds a routing config the demo did not " \
               "create" in proc.stderr
        assert (store.version(), store.history()) == (version, history)
        assert sorted(client.scan_iter(match=f"{{{namespace}}}:*")) == keys
        assert not list(client.scan_iter(match=f"{namespace}:broker:*"))
    finally:
        client.close()


def test_demo_on_redis_plays_in_its_namespace_not_the_environments(
    redis_url: str, demo_env: dict[str, str]
) -> None:
    # Given the environment's namespace holding a deployment's config
    deployment = ConfigStore.from_url(redis_url, demo_env["LLM_ROUTER_NAMESPACE"])
    deployment.init(author="ops")
    version = deployment.version()
    own = f"llmr-demo-{uuid.uuid4().hex[:8]}"
    try:
        # When the demo runs in a namespace of its own (no worker answers there)
        proc = run_demo(demo_env, "--redis-url", redis_url, "--namespace", own, "--json",
                        "--scale", "0.05")
        # Then it set up its own namespace, and the deployment's is untouched
        assert proc.returncode == 1 and "LLM_ROUTER_NAMESPACE=" + own in proc.stderr
        assert deployment.version() == version
        ours = ConfigStore.from_url(redis_url, own)
        assert ours.version() == 1
        assert ours.redis.get(f"{{{own}}}:demo") is not None
    finally:
        delete_namespace(redis_url, own)
