"""How long `llm-router` commands take, against importing their bare libraries.

Each round runs, in a rotating order, `python -c 'import typer, redis, pydantic, yaml'`
(the floor: what any such CLI loads) and each measured command as a user types it (the
`llm-router` script of this interpreter's environment), each a fresh process; the figure
per command is the median wall time over the rounds divided by the floor's median.
Pairing the runs in rounds keeps the machine's noise out of the ratios.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FLOOR = "import typer, redis, pydantic, yaml"
# figure name -> the command's arguments
COMMANDS: dict[str, list[str]] = {
    "route": ["route", "code_review", "--json"],
    "config_show": ["config", "show"],
    "cost_estimate": ["cost", "estimate", "monitoring", "--runs-per-day", "48",
                      "--input-tokens", "2000", "--output-tokens", "300"],
    "help": ["--help"],
}


@dataclass(frozen=True)
class StartupResult:
    floor_ms: float
    command_ms: dict[str, float]
    rounds: int

    def ratio(self, name: str) -> float:
        return self.command_ms[name] / self.floor_ms


def _script() -> str:
    script = Path(sys.executable).with_name("llm-router")
    return str(script) if script.exists() else "llm-router"


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed * 1000


def measure(env: dict[str, str], rounds: int) -> StartupResult:
    """`env`: the deployment the commands read (a stored config is needed)."""
    full_env = {**os.environ, **env}
    runs: dict[str, list[str]] = {"floor": [sys.executable, "-c", FLOOR]}
    runs.update({name: [_script(), *args] for name, args in COMMANDS.items()})
    names = list(runs)
    for name in names:  # warm the file cache (and fail early)
        _timed(runs[name], full_env)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            samples[name].append(_timed(runs[name], full_env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    floor = medians.pop("floor")
    return StartupResult(floor, medians, rounds)
