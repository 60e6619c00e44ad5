"""Benchmark: routing decisions per second from memory, and config change propagation.

    .venv/bin/python bench/bench_routing.py [--redis-url URL] [--changes N]

(default URL: LLM_ROUTER_REDIS_URL)

1. decisions/s through `LiveConfig.router.decide` (in memory, no I/O); target >= 100,000.
2. Two separate worker-like processes each hold a `LiveConfig`; this process changes the
   config N times and each worker reports when it sees every new version. p50/p99 of
   the delay from the write to the worker seeing it; target p99 < 1 s.
Uses its own namespace on the real Redis and deletes its keys at the end. Prints a table
and then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from routing.config.store import ConfigStore
from routing.live import LiveConfig
from workers.settings import get_settings

WORKERS = 2


def worker(url: str, namespace: str) -> None:
    """A worker-like process: hold the config live, report every new version seen."""
    live = LiveConfig(ConfigStore.from_url(url, namespace)).start()
    start = live.version  # read before "ready": the parent writes as soon as it reads that
    done = threading.Event()

    def report() -> None:  # each new version the moment it is swapped in
        version = start
        while not done.is_set():
            if live.wait_for_version(version + 1, timeout=0.5):
                version = live.version
                print(f"seen {version} {time.time()!r}", flush=True)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    print(f"ready {start}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    done.set()
    thread.join()
    live.stop()


def decisions_per_second(live: LiveConfig, seconds: float = 2.0) -> float:
    keys = sorted(live.get().model_keys)
    calls = [(k, t) for k in keys for t in (0, 1_000, 60_000)]
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for key, tokens in calls:
            live.router.decide(key, tokens)
        done += len(calls)
    return done / (time.perf_counter() - start)


def _reader(index: int, stream: IO[str], out: queue.Queue[tuple[int, str]]) -> None:
    for line in stream:
        out.put((index, line.strip()))


def propagation(store: ConfigStore, url: str, changes: int) -> list[float]:
    lines: queue.Queue[tuple[int, str]] = queue.Queue()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, store.namespace],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(WORKERS)
    ]
    try:
        for i, proc in enumerate(procs):
            assert proc.stdout is not None
            threading.Thread(target=_reader, args=(i, proc.stdout, lines), daemon=True).start()
        ready: set[int] = set()
        while len(ready) < WORKERS:
            i, line = lines.get(timeout=30)
            if line.startswith("ready"):
                ready.add(i)
        delays: list[float] = []
        models = ["gpt-4o", "claude-sonnet-4-5"]
        for n in range(changes):
            wrote_at = time.time()
            version = store.set_model("drafting", models[n % 2], author="bench").version
            seen: set[int] = set()
            while len(seen) < WORKERS:
                i, line = lines.get(timeout=10)
                word, v, at = line.split()
                if word == "seen" and int(v) == version and i not in seen:
                    seen.add(i)
                    delays.append(float(at) - wrote_at)
        return delays
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=get_settings().redis_url)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--worker", nargs=2, metavar=("URL", "NAMESPACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    store = ConfigStore.from_url(args.redis_url, f"llmr-bench-{uuid.uuid4().hex[:10]}")
    try:
        store.init(author="bench")
        with LiveConfig(store) as live:
            rate = decisions_per_second(live)
        delays = propagation(store, args.redis_url, args.changes)
    finally:
        store.delete_all()
    ms = [d * 1000 for d in delays]
    result = {
        "decisions_per_second": round(rate),
        "propagation_samples": len(ms),
        "propagation_p50_ms": round(statistics.median(ms), 2),
        "propagation_p99_ms": round(percentile(ms, 99), 2),
        "propagation_max_ms": round(max(ms), 2),
        "workers": WORKERS,
        "targets": {"decisions_per_second": 100_000, "propagation_p99_ms": 1000},
    }
    table = Table("measure", "value", "target")
    table.add_row("routing decisions / s (in memory)", f"{rate:,.0f}", ">= 100,000")
    table.add_row(f"propagation p50 ({len(ms)} samples, {WORKERS} processes)",
                  f"{result['propagation_p50_ms']} ms", "")
    table.add_row("propagation p99", f"{result['propagation_p99_ms']} ms", "< 1000 ms")
    table.add_row("propagation max", f"{result['propagation_max_ms']} ms", "")
    Console(highlight=False).print(table)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
