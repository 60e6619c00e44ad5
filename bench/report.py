"""The bench's figures: one flat dict (the JSON line), targets, and the table."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.cli_startup import COMMANDS

# figure -> (comparison, target); a figure with no target is only reported.
TARGETS: dict[str, tuple[str, float]] = {
    "publish_ratio": (">=", 0.9),
    "worker_ratio_to_limit": (">=", 0.85),
    "worker_ratio_to_bare": (">=", 0.95),
    "decisions_per_second": (">=", 100_000),
    "propagation_p99_ms": ("<=", 1000),
    "ledger_round_trips_per_call": ("<=", 2),
    "attributed_round_trips_per_call": ("<=", 2),
    "attributed_llm_ratio": (">=", 0.95),
    "overhead_foreign_ratio": (">=", 0.9),
    "overhead_cpu_ratio": ("<=", 1.5),
    "overhead_tool_ratio": (">=", 0.95),
    "overhead_tool_cpu_ratio": ("<=", 1.15),
    **{f"cli_{name}_ratio": ("<=", 1.3) for name in COMMANDS},
}

ROWS: list[tuple[str, str, str]] = [
    # (figure, label, format)
    ("publish_routed_per_s", "1. publish llm.run via router (tasks/s)", ",.0f"),
    ("publish_bare_per_s", "   publish bare task, fixed queue (tasks/s)", ",.0f"),
    ("publish_ratio", "   ratio routed / bare", ".3f"),
    ("worker_limit_per_s", "2. one worker: limit N/L (tasks/s)", ",.1f"),
    ("worker_llm_per_s", "   llm.run end to end (tasks/s)", ",.1f"),
    ("worker_bare_per_s", "   bare task sleeping L (tasks/s)", ",.1f"),
    ("worker_ratio_to_limit", "   ratio llm.run / (N/L)", ".3f"),
    ("worker_ratio_to_bare", "   ratio llm.run / bare", ".3f"),
    ("bare_ratio_to_limit", "   ratio bare / (N/L)", ".3f"),
    ("decisions_per_second", "3. routing decisions / s (in memory)", ",.0f"),
    ("propagation_p50_ms", "4. config propagation p50 (ms)", ",.1f"),
    ("propagation_p99_ms", "   config propagation p99 (ms)", ",.1f"),
    ("propagation_max_ms", "   config propagation max (ms)", ",.1f"),
    ("ledger_round_trips_per_call", "5. Redis round trips per call (reserve+settle)", ".2f"),
    ("ledger_commands_per_call", "   Redis commands per call", ".2f"),
    ("ledger_calls_per_s", "   recorded calls / s (reserve+settle)", ",.0f"),
    ("ledger_ratio_to_two_pings", "   ratio to 2 bare round trips (PING)", ".3f"),
    ("scaling_one_per_s", "6. llm.run, one Haiku worker (tasks/s)", ",.1f"),
    ("scaling_two_per_s", "   llm.run, two Haiku workers (tasks/s)", ",.1f"),
    ("scaling_ratio", "   ratio two / one", ".3f"),
    ("overhead_limit_per_s", "7. Haiku profile, as another app uses it: N/L (tasks/s)", ",.1f"),
    ("overhead_foreign_per_s", "   plain app send_task('llm.run') (tasks/s)", ",.1f"),
    ("overhead_project_per_s", "   project app send_task('llm.run') (tasks/s)", ",.1f"),
    ("overhead_plain_per_s", "   bare Celery app and task (tasks/s)", ",.1f"),
    ("overhead_foreign_ratio", "   ratio plain-app llm.run / bare Celery", ".3f"),
    ("overhead_project_ratio", "   ratio project llm.run / bare Celery", ".3f"),
    ("overhead_foreign_cpu_ms", "   worker CPU per llm.run (ms)", ".2f"),
    ("overhead_plain_cpu_ms", "   worker CPU per bare Celery task (ms)", ".2f"),
    ("overhead_cpu_ratio", "   ratio CPU llm.run / bare Celery", ".2f"),
    ("overhead_sdk_per_s", "   bare Celery task calling the SDK (tasks/s)", ",.1f"),
    ("overhead_sdk_cpu_ms", "   worker CPU per bare Celery SDK call (ms)", ".2f"),
    ("overhead_sdk_cpu_ratio", "   ratio CPU llm.run / bare Celery SDK call", ".2f"),
    ("overhead_tools_per_s", "   plain app llm.run, a tool turn (tasks/s)", ",.1f"),
    ("overhead_sdk_tools_per_s", "   bare Celery task, the same SDK call with tools (tasks/s)",
     ",.1f"),
    ("overhead_tool_ratio", "   ratio tool turn llm.run / bare Celery SDK call", ".3f"),
    ("overhead_tools_cpu_ms", "   worker CPU per tool turn llm.run (ms)", ".2f"),
    ("overhead_sdk_tools_cpu_ms", "   worker CPU per bare Celery SDK call with tools (ms)",
     ".2f"),
    ("overhead_tool_cpu_ratio", "   ratio CPU tool turn llm.run / bare SDK call", ".2f"),
    ("cli_floor_ms", "8. python -c 'import typer, redis, pydantic, yaml' (ms)", ",.0f"),
    *((f"cli_{name}_ratio", f"   llm-router {' '.join(args)} / that", ".2f")
      for name, args in COMMANDS.items()),
    ("cli_floor_cpu_ms", "   the same floor, CPU time (ms)", ",.0f"),
    *((f"cli_{name}_cpu_ratio", f"   llm-router {' '.join(args)} / that, CPU", ".2f")
      for name, args in COMMANDS.items()),
    ("structured_format_error_rate", "9. typed tasks, simulated: prompt format error rate",
     ".3f"),
    ("structured_native_invalid_rate", "   invalid outputs / calls, native structured output",
     ".4f"),
    ("structured_prompt_invalid_rate", "   invalid outputs / calls, prompt convention", ".4f"),
    ("structured_native_escalation_rate", "   escalated tasks / tasks, native", ".4f"),
    ("structured_prompt_escalation_rate", "   escalated tasks / tasks, prompt convention",
     ".4f"),
    ("structured_native_cost_micros_per_task", "   cost per task, native (micro-USD)", ",.1f"),
    ("structured_prompt_cost_micros_per_task", "   cost per task, prompt convention (micro-USD)",
     ",.1f"),
    ("structured_cost_ratio", "   ratio cost native / prompt", ".3f"),
    ("attributed_round_trips_per_call", "10. attributed call: Redis round trips (reserve+settle)",
     ".2f"),
    ("attributed_ledger_plain_per_s", "   plain reserve+settle (calls/s)", ",.0f"),
    ("attributed_ledger_per_s", "   attributed reserve+settle (calls/s)", ",.0f"),
    ("attributed_ledger_ratio", "   ratio attributed / plain (ledger)", ".3f"),
    ("attributed_llm_plain_per_s", "   plain llm.run, one Haiku worker (tasks/s)", ",.1f"),
    ("attributed_llm_per_s", "   attributed llm.run, same worker (tasks/s)", ",.1f"),
    ("attributed_llm_ratio", "   ratio attributed / plain llm.run", ".3f"),
]


def met(figures: dict[str, Any]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for name, (op, target) in TARGETS.items():
        value = figures[name]
        out[name] = value >= target if op == ">=" else value <= target
    return out


def print_report(figures: dict[str, Any], title: str) -> None:
    verdict = figures["met"]
    table = Table("measure", "value", "target", title=title)
    for name, label, fmt in ROWS:
        target = ""
        if name in TARGETS:
            op, value = TARGETS[name]
            target = f"{op} {value:,g}  " + ("met" if verdict[name] else "MISSED")
        table.add_row(label, format(figures[name], fmt), target)
    Console(highlight=False, width=110).print(table)
    print(json.dumps(figures, separators=(",", ":")), flush=True)
