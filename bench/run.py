"""Run every benchmark side by side in one run; print a table and one JSON line.

    .venv/bin/python -m bench [--tiny | --quick | --full] [--redis-url URL]
    .venv/bin/python -m bench --startup [--rounds R] [--redis-url URL]

--startup runs the CLI start-up bench alone (section 8, `bench.cli_startup`): the ratio of
each read-only command to the floor, wall and CPU, and the floor in ms (default 7 rounds,
as --quick).

The Redis: --redis-url, else $LLM_ROUTER_BENCH_REDIS_URL, else the server of
$LLM_ROUTER_REDIS_URL with database 13 (said on stderr), else redis://127.0.0.1:6379/13.

Against the real Redis (its own database, namespace and broker key prefix; its keys are
deleted afterwards) and the local test LLM server (`tests.support.llm_server`).
--quick (default) takes about 90 s; --full runs longer rounds; --tiny is the smoke
test's (figures too small to mean anything).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import attributed, cli_startup, ledger_cost, overhead, publish, structured, throughput
from bench.env import DEFAULT_REDIS_URL, bench_env, bench_redis_url
from bench.report import TARGETS, met, print_report


@dataclass(frozen=True)
class Mode:
    publish_rounds: int
    publish_per_round: int
    concurrency: int
    latency: float
    waves: int
    worker_rounds: int
    decision_seconds: float
    changes: int
    ledger_counted: int
    ledger_per_round: int
    ledger_rounds: int
    cli_rounds: int
    # the path other apps take: the Haiku tier's shipped profile (32 threads, prefetch 4)
    overhead_concurrency: int
    overhead_latency: float
    overhead_waves: int
    overhead_rounds: int
    # typed tasks per variant and round, and rounds (each: native then prompt)
    structured_tasks: int = 8
    structured_rounds: int = 1


MODES = {
    "tiny": Mode(2, 50, 4, 0.05, 2, 1, 0.2, 4, 10, 50, 1, 1, 4, 0.05, 2, 1),
    "quick": Mode(6, 400, 16, 0.2, 10, 2, 1.0, 20, 200, 400, 3, 7, 32, 0.5, 8, 3,
                  structured_tasks=200, structured_rounds=2),
    "full": Mode(12, 2000, 16, 0.2, 20, 5, 3.0, 100, 1000, 2000, 7, 15, 32, 0.5, 20, 5,
                 structured_tasks=400, structured_rounds=4),
}


def run(mode_name: str, redis_url: str) -> dict[str, Any]:
    from bench.bench_routing import decisions_per_second, percentile, propagation
    from routing.config.store import ConfigStore
    from workers.execution.runtime import get_runtime

    mode = MODES[mode_name]
    started = time.perf_counter()
    with bench_env(redis_url) as benv:
        pub = publish.measure(mode.publish_rounds, mode.publish_per_round)
        led = ledger_cost.measure(mode.ledger_counted, mode.ledger_per_round, mode.ledger_rounds)
        rate = decisions_per_second(get_runtime().live, mode.decision_seconds)
        store = ConfigStore.from_url(redis_url, benv.namespace)
        delays = [d * 1000 for d in propagation(store, redis_url, mode.changes)]
        thr = throughput.measure(benv, concurrency=mode.concurrency, latency=mode.latency,
                                 waves=mode.waves, rounds=mode.worker_rounds)
        over = overhead.measure(benv, concurrency=mode.overhead_concurrency, prefetch=4,
                                latency=mode.overhead_latency, waves=mode.overhead_waves,
                                rounds=mode.overhead_rounds)
        cli = cli_startup.measure(benv.env(), mode.cli_rounds)
        typed = structured.measure(benv, tasks=mode.structured_tasks,
                                   rounds=mode.structured_rounds)
        att = attributed.measure(benv, per_round=mode.ledger_per_round,
                                 rounds=max(2, mode.worker_rounds), concurrency=mode.concurrency,
                                 latency=mode.latency, waves=mode.waves)
        leftover = len(benv.keys())
    figures: dict[str, Any] = {
        "mode": mode_name,
        "namespace": benv.namespace,
        "publish_routed_per_s": round(pub.routed_per_s, 1),
        "publish_bare_per_s": round(pub.bare_per_s, 1),
        "publish_ratio": round(pub.ratio, 4),
        "publish_queue": pub.routed_queue,
        "worker_concurrency": thr.concurrency,
        "worker_latency_s": thr.latency_s,
        "worker_tasks_per_round": thr.tasks_per_round,
        "worker_limit_per_s": round(thr.limit_per_s, 2),
        "worker_llm_per_s": round(thr.llm, 2),
        "worker_bare_per_s": round(thr.bare, 2),
        "worker_ratio_to_limit": round(thr.llm / thr.limit_per_s, 4),
        "worker_ratio_to_bare": round(thr.llm / thr.bare, 4),
        "bare_ratio_to_limit": round(thr.bare / thr.limit_per_s, 4),
        "decisions_per_second": round(rate),
        "propagation_samples": len(delays),
        "propagation_p50_ms": round(statistics.median(delays), 2),
        "propagation_p99_ms": round(percentile(delays, 99), 2),
        "propagation_max_ms": round(max(delays), 2),
        "ledger_round_trips_per_call": round(led.round_trips_per_call, 3),
        "ledger_commands_per_call": round(led.commands_per_call, 3),
        "ledger_calls_per_s": round(led.calls_per_s, 1),
        "ledger_ratio_to_two_pings": round(led.ratio_to_two_pings, 4),
        "scaling_one_per_s": round(thr.llm, 2),
        "scaling_two_per_s": round(thr.llm_two, 2),
        "scaling_ratio": round(thr.llm_two / thr.llm, 4),
        **overhead.figures(over),
        "overhead_limit_per_s": round(over.concurrency / over.latency_s, 2),
        "cli_floor_ms": round(cli.floor_ms, 1),
        **{f"cli_{name}_ms": round(ms, 1) for name, ms in cli.command_ms.items()},
        **{f"cli_{name}_ratio": round(cli.ratio(name), 3) for name in cli.command_ms},
        "cli_floor_cpu_ms": round(cli.floor_cpu_ms, 1),
        **{f"cli_{name}_cpu_ratio": round(cli.cpu_ratio(name), 3) for name in cli.command_ms},
        **typed.figures(),
        "rounds": {"publish": pub.rounds, "worker": mode.worker_rounds,
                   "overhead": mode.overhead_rounds, "cli": cli.rounds,
                   "structured": typed.rounds},
        "samples": {"llm_per_s": thr.llm_per_s, "bare_per_s": thr.bare_per_s,
                    "llm_two_per_s": thr.llm_two_per_s,
                    "overhead_per_s": over.per_s, "overhead_cpu_ms": over.cpu_ms},
        "attributed_round_trips_per_call": round(att.round_trips_per_call, 3),
        "attributed_ledger_plain_per_s": round(att.median("ledger_plain_per_s"), 1),
        "attributed_ledger_per_s": round(att.median("ledger_attributed_per_s"), 1),
        "attributed_ledger_ratio": round(att.median("ledger_attributed_per_s")
                                         / att.median("ledger_plain_per_s"), 4),
        "attributed_llm_plain_per_s": round(att.median("llm_plain_per_s"), 2),
        "attributed_llm_per_s": round(att.median("llm_attributed_per_s"), 2),
        "attributed_llm_ratio": round(att.median("llm_attributed_per_s")
                                      / att.median("llm_plain_per_s"), 4),
        "keys_left_before_cleanup": leftover,
        "targets": {k: f"{op} {v:g}" for k, (op, v) in TARGETS.items()},
    }
    figures["met"] = met(figures)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def startup(redis_url: str, rounds: int) -> None:
    """The CLI start-up bench alone: a table, then one JSON line."""
    from routing.config.store import ConfigStore

    with bench_env(redis_url) as benv:
        # a second version, for `config diff` (the full run's other benches change it)
        store = ConfigStore.from_url(redis_url, benv.namespace)
        store.set_model("drafting", "gpt-4o", author="bench")
        cli = cli_startup.measure(benv.env(), rounds)
    print(f"CLI start-up, {cli.rounds} rounds, floor {cli.floor_ms:.0f} ms wall, "
          f"{cli.floor_cpu_ms:.0f} ms CPU")
    print(f"{'command':<16} {'wall':>6} {'CPU':>6}")
    for name in cli.command_ms:
        print(f"{name:<16} {cli.ratio(name):>6.2f} {cli.cpu_ratio(name):>6.2f}")
    print(json.dumps({
        "rounds": cli.rounds, "floor_ms": round(cli.floor_ms, 1),
        "floor_cpu_ms": round(cli.floor_cpu_ms, 1),
        "ratio": {name: round(cli.ratio(name), 3) for name in cli.command_ms},
        "cpu_ratio": {name: round(cli.cpu_ratio(name), 3) for name in cli.command_ms},
    }))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    for name in MODES:
        group.add_argument(f"--{name}", dest="mode", action="store_const", const=name)
    parser.add_argument(
        "--redis-url", default=None,
        help="default: $LLM_ROUTER_BENCH_REDIS_URL, else the server of $LLM_ROUTER_REDIS_URL "
             f"with database 13, else {DEFAULT_REDIS_URL}")
    parser.add_argument("--startup", action="store_true",
                        help="the CLI start-up bench alone (section 8)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="--startup: rounds (default: --quick's)")
    args = parser.parse_args(argv)
    mode = args.mode or "quick"
    redis_url, note = bench_redis_url(args.redis_url, os.environ)
    if note:
        print(note, file=sys.stderr)
    if args.startup:
        startup(redis_url, args.rounds or MODES[mode].cli_rounds)
        return
    figures = run(mode, redis_url)
    print_report(figures, f"llm-router bench ({mode}, {figures['seconds']} s)")


if __name__ == "__main__":
    main()
