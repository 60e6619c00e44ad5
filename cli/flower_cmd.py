"""`llm-router flower [flower options]`: Flower for this deployment, with a login required.

Flower shows every task's kwargs and result (prompts, answers): it is never started
without credentials. FLOWER_BASIC_AUTH (`user:password[,user2:password2]`) must be set;
the task list shows the result column (model key, model and cost come first in a result).
"""

from __future__ import annotations

import os

import typer

from cli import app
from cli.context import EXIT_INVALID, fail, guarded

TASK_COLUMNS = "name,uuid,state,result,received,runtime,worker"


def flower_argv(extra: list[str]) -> list[str]:
    """The `celery flower` arguments; `extra` comes last and wins."""
    return ["flower", f"--tasks_columns={TASK_COLUMNS}", *extra]


@app.command(
    "flower",
    short_help="Flower, with a login required.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def flower(ctx: typer.Context) -> None:
    """Start Flower on this deployment's broker (extra arguments go to `celery flower`,
    e.g. --address=127.0.0.1 --port=5555 --persistent=True --db=flower.db). Refuses to
    start without FLOWER_BASIC_AUTH=user:password[,user2:password2]."""
    from workers.flower_login import login_problem  # (Celery: not at every CLI start)

    auth = os.environ.get("FLOWER_BASIC_AUTH", "").strip()
    problem = login_problem(auth.split(",") if auth else [], None)
    if problem is not None:  # (`celery -A workers.app flower` refuses too: workers.flower_login)
        fail(problem, EXIT_INVALID)
    if any(arg.startswith("--basic-auth") or arg.startswith("--basic_auth") for arg in ctx.args):
        fail("give the credentials in FLOWER_BASIC_AUTH, not on the command line (where "
             "every user of the host sees them)", EXIT_INVALID)
    from workers.app import app as celery_app
    from workers.settings import get_settings

    with guarded():
        get_settings()  # a refused variable: one line, before Celery reads the settings

    celery_app.start(argv=flower_argv(list(ctx.args)))
