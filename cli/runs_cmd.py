"""`llm-router runs show RUN_ID`, `runs stop RUN_ID`: one run's spend and calls; stopping
it (every further call of the run is refused, on every worker, from the next call on)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import runs_app
from cli.context import EXIT_INVALID, JsonOpt, emit_json, fail, guarded, open_store, say

RunArg = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's id (`run_id`).")]


@runs_app.command("show", short_help="A run: spend, cap, state, calls in order.")
def show(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """The run's spend per agent, its cap and state (open, capped, stopped) and its calls in
    order (agent, model key, model, hop, cost). Exit 1 when no call of it is known."""
    from cli.attribution_view import run_report

    run_report(run_id, as_json)


@runs_app.command("stop", short_help="Refuse every further call of a run.")
def stop(run_id: RunArg, as_json: JsonOpt = False) -> None:
    """Stop the run: its next call, on any worker, fails with RunBudgetExceeded (stopped),
    nothing charged; calls in flight finish. Works before the run's first call too."""
    from cli.attribution_view import print_run
    from routing.errors import AttributionError
    from routing.spend.runs import RunBook
    from workers.settings import get_settings

    with guarded():
        store = open_store()
        book = RunBook(store.redis, store.namespace,
                       run_keep_days=get_settings().run_keep_days)
        try:
            run = book.stop(run_id).as_dict()
        except AttributionError as exc:
            fail(str(exc), EXIT_INVALID)
    if as_json:
        emit_json(run)
    else:
        say(f"stopped: every further call of run {run_id} is refused")
        print_run(run)
