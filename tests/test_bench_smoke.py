"""The benchmark command runs end to end in its tiny mode and reports every figure.

No timing is asserted (the machine is shared and noisy): only that the JSON line is there,
complete, and that the run left no key behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from bench.cli_startup import COMMANDS
from tests.support.redis import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
FIGURES = [
    "publish_routed_per_s", "publish_bare_per_s", "publish_ratio",
    "worker_limit_per_s", "worker_llm_per_s", "worker_bare_per_s",
    "worker_ratio_to_limit", "worker_ratio_to_bare",
    "decisions_per_second",
    "propagation_p50_ms", "propagation_p99_ms",
    "ledger_round_trips_per_call", "ledger_calls_per_s",
    "scaling_one_per_s", "scaling_two_per_s", "scaling_ratio",
    "overhead_foreign_per_s", "overhead_project_per_s", "overhead_plain_per_s",
    "attributed_round_trips_per_call", "attributed_ledger_ratio", "attributed_llm_ratio",
    "attributed_llm_plain_per_s", "attributed_llm_per_s",
    "overhead_foreign_ratio", "overhead_project_ratio", "overhead_sdk_per_s",
    # a tool turn against a bare Celery task making the same SDK call with the same tools
    "overhead_tools_per_s", "overhead_sdk_tools_per_s", "overhead_tool_ratio",
    "cli_floor_ms", "cli_floor_cpu_ms",
    # every command that only reads, in wall time and in CPU time
    *(f"cli_{name}_{kind}" for name in ("route", "config_show", "config_history", "config_diff",
                                        "cost_estimate", "cost_report", "budget_show",
                                        "review", "plan", "prices_check", "samples_show",
                                        "version", "help")
      for kind in ("ratio", "cpu_ratio")),
]


# Every section of the bench, tiny: about 40 s alone, several times that beside the suite's
# other processes on two cores (a stall still fails it).
@pytest.mark.timeout(420)
def test_bench_tiny_prints_every_figure(redis_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--redis-url", redis_url],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, proc.stdout
    figures = json.loads(lines[0])
    for name in FIGURES:
        assert isinstance(figures[name], int | float), (name, figures.get(name))
        assert figures[name] > 0, (name, figures[name])
    for name in ("overhead_foreign_cpu_ms", "overhead_plain_cpu_ms", "overhead_cpu_ratio",
                 "overhead_sdk_cpu_ms", "overhead_sdk_cpu_ratio", "overhead_tools_cpu_ms",
                 "overhead_sdk_tools_cpu_ms", "overhead_tool_cpu_ratio"):
        assert figures[name] >= 0, (name, figures[name])  # idle-subtracted: tiny rounds may be 0
    # typed tasks with and without native structured output, side by side: native never
    # loses the format (the simulated provider's format errors hit the prompt only)
    assert figures["structured_native_invalid_rate"] == 0
    assert figures["structured_prompt_invalid_rate"] >= 0
    assert figures["structured_cost_ratio"] > 0
    assert "native / prompt" in proc.stdout
    assert figures["publish_queue"] == "llm.haiku"  # the router chose the tier's queue
    assert figures["ledger_round_trips_per_call"] <= 2  # counted, not timed
    assert set(figures["met"]) == set(figures["targets"])
    assert "routed / bare" in proc.stdout  # the table
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in ("{" + figures["namespace"] + "}:*", f"{figures['namespace']}:*"):
            assert not list(client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


@pytest.mark.timeout(300)
def test_bench_startup_alone_prints_each_command(redis_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--startup", "--rounds", "1", "--redis-url", redis_url],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("{")))
    assert figures["rounds"] == 1 and figures["floor_cpu_ms"] > 0
    assert set(figures["cpu_ratio"]) == set(figures["ratio"]) == set(COMMANDS)


def test_bench_default_url_is_not_the_tests_or_a_deployments() -> None:
    from bench.env import DEFAULT_REDIS_URL

    assert DEFAULT_REDIS_URL not in (TEST_REDIS_URL, "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize(("given", "environ", "url", "says"), [
    # --redis-url wins
    ("redis://h:1/5", {"LLM_ROUTER_REDIS_URL": "redis://d:2/0"}, "redis://h:1/5", None),
    # then the bench's own variable
    (None, {"LLM_ROUTER_BENCH_REDIS_URL": "redis://b:3/4", "LLM_ROUTER_REDIS_URL": "redis://d/0"},
     "redis://b:3/4", None),
    # a deployment's URL: its server, never its database (and the password is not printed)
    (None, {"LLM_ROUTER_REDIS_URL": "redis://:s3cret@cache.internal:6380/0"},
     "redis://:s3cret@cache.internal:6380/13", "database 13"),
    (None, {"LLM_ROUTER_REDIS_URL": "rediss://cache.internal"}, "rediss://cache.internal/13",
     "database 13"),
    (None, {"LLM_ROUTER_REDIS_URL": "unix:///run/redis.sock?db=2"},
     "unix:///run/redis.sock?db=13", "database 13"),
    # nothing set
    (None, {}, "redis://127.0.0.1:6379/13", None),
])
def test_bench_redis_url_never_lands_on_a_deployments_database(
    given: str | None, environ: dict[str, str], url: str, says: str | None
) -> None:
    from bench.env import bench_redis_url

    chosen, note = bench_redis_url(given, environ)
    assert chosen == url
    if says is None:
        assert note is None
    else:
        assert note is not None and says in note and "LLM_ROUTER_REDIS_URL" in note
        assert "s3cret" not in note
