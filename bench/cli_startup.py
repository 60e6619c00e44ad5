"""How long `llm-router` commands take, against importing their bare libraries.

Each round runs, in a rotating order, `python -c 'import typer, redis, pydantic, yaml'`
(the floor: what any such CLI loads) and each measured command as a user types it (the
`llm-router` script of this interpreter's environment), each a fresh process; the figure
per command is the median wall time over the rounds divided by the floor's median, and
the same for the CPU time (user + system) each process used.
Pairing the runs in rounds keeps the machine's noise out of the ratios.

The commands run with their bytecode cached, as after any installation or first run: the
floor's libraries come compiled from site-packages, so PYTHONDONTWRITEBYTECODE (set in
some shells and images) is dropped for these runs, and the warm-up run writes the
project's `__pycache__` (git ignores it). Otherwise every command would compile the
project's modules from source on every start and the figures would measure that. Likewise
the warm-up run writes the price catalog's cache (`routing.catalog.cache`, in a directory
of this run), which the commands that read the catalog use after any first run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FLOOR = "import typer, redis, pydantic, yaml"
# figure name -> the command's arguments: every command that only reads and whose time is
# its start-up and its own reading (Redis, the pinned price catalog). Not measured:
# `tiers` (a Celery broadcast, which waits its timeout for the workers' replies),
# `batches list` (asks each provider's batch API over the network), `prices check
# --latest` (fetches the catalog), and `runs show` (needs a run that made calls).
COMMANDS: dict[str, list[str]] = {
    "route": ["route", "code_review", "--json"],
    "config_show": ["config", "show"],
    "config_history": ["config", "history"],
    "config_diff": ["config", "diff"],
    "cost_estimate": ["cost", "estimate", "monitoring", "--runs-per-day", "48",
                      "--input-tokens", "2000", "--output-tokens", "300"],
    "cost_report": ["cost", "report"],
    "budget_show": ["budget", "show"],
    "review": ["review"],
    "plan": ["plan", "--calls-per-day", "lookup=1000000"],
    "prices_check": ["prices", "check"],
    "samples_show": ["samples", "show", "code_review"],
    "version": ["--version"],
    "help": ["--help"],
}


@dataclass(frozen=True)
class StartupResult:
    floor_ms: float
    command_ms: dict[str, float]
    rounds: int
    # CPU time (user + system) of each process: start-up is CPU work, and on a shared
    # machine the CPU a process used varies far less than the wall time it took.
    floor_cpu_ms: float = 0.0
    command_cpu_ms: dict[str, float] = field(default_factory=dict)

    def ratio(self, name: str) -> float:
        return self.command_ms[name] / self.floor_ms

    def cpu_ratio(self, name: str) -> float:
        return self.command_cpu_ms[name] / self.floor_cpu_ms


def _script() -> str:
    script = Path(sys.executable).with_name("llm-router")
    return str(script) if script.exists() else "llm-router"


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run of `argv`."""
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {tail}")
    return elapsed * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def measure(env: dict[str, str], rounds: int) -> StartupResult:
    """`env`: the deployment the commands read (a stored config is needed)."""
    with tempfile.TemporaryDirectory(prefix="llmr-bench-cache-") as cache:
        return _measure({k: v for k, v in {**os.environ, **env, "XDG_CACHE_HOME": cache}.items()
                         if k != "PYTHONDONTWRITEBYTECODE"}, rounds)


def _measure(full_env: dict[str, str], rounds: int) -> StartupResult:
    runs: dict[str, list[str]] = {"floor": [sys.executable, "-c", FLOOR]}
    runs.update({name: [_script(), *args] for name, args in COMMANDS.items()})
    names = list(runs)
    for name in names:  # warm the file cache, write the bytecode (and fail early)
        _timed(runs[name], full_env)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            wall_ms, cpu_ms = _timed(runs[name], full_env)
            wall[name].append(wall_ms)
            cpu[name].append(cpu_ms)
    medians = {name: statistics.median(values) for name, values in wall.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    floor = medians.pop("floor")
    floor_cpu = cpu_medians.pop("floor")
    return StartupResult(floor, medians, rounds, floor_cpu, cpu_medians)
