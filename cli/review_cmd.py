"""`llm-router review`: is the cheaper model good enough? The evidence per model key and
trial candidate, the recommendations, and `--apply KEY` to carry one out."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import app
from cli.context import (
    EXIT_CODES_HELP,
    EXIT_INVALID,
    JsonOpt,
    emit_json,
    fail,
    guarded,
    open_store,
    say,
    settings,
)
from cli.review_view import review_lines


@app.command("review", short_help="Evidence per key: is a cheaper model enough.",
             epilog=EXIT_CODES_HELP)
def review(
    days: int = typer.Option(30, min=1, max=400, help="The window: the last N UTC days."),
    day: str | None = typer.Option(
        None, help="The window's last UTC day, YYYY-MM-DD; default today."),
    apply_key: str | None = typer.Option(
        None, "--apply", metavar="MODEL_KEY",
        help="Carry out MODEL_KEY's recommendation (a new config version by 'review')."),
    expect_version: int | None = typer.Option(
        None, "--expect-version", min=0,
        help="With --apply: refuse (exit 3) unless the store still holds this version."),
    candidates: bool = typer.Option(
        False, "--candidates",
        help="Per key: catalog and config models that could serve it for less (new ones "
             "marked), on the key's tokens of the window."),
    add: bool = typer.Option(
        False, "--add", help="With --candidates: add each key's best candidate (catalog "
                             "prices) and a trial of it, as a new config version."),
    only_keys: Annotated[list[str] | None, typer.Option(
        "--key", metavar="MODEL_KEY", help="With --candidates: only these keys.")] = None,
    trial_sample: float = typer.Option(
        0.01, "--trial-sample", min=0.0001, max=1.0,
        help="With --add: the share of live calls the new trial shadows."),
    trial_budget_usd: float = typer.Option(
        1.0, "--trial-budget-usd", min=0.01, max=1_000_000,
        help="With --add: the new trial's daily budget (it pays replays too)."),
    as_json: JsonOpt = False,
) -> None:
    """Per model key: its model, volume, cost, escalation and fallback rates; per trial
    candidate: live and replayed samples, agreement with its 95% interval (on their sum),
    invalid rate, latency and cost ratios, the monthly saving; and what to change (switch
    down, move up, or keep, and why). With --candidates: the models that could serve each
    key for less, and --add to trial them."""
    from routing.days import day_text
    from routing.evidence.review import apply
    from routing.evidence.review import review as build_review
    from routing.spend.ledger import Ledger

    if expect_version is not None and apply_key is None and not add:
        fail("--expect-version goes with --apply MODEL_KEY or --candidates --add",
             EXIT_INVALID)
    if (add or only_keys) and not candidates:
        fail("--add and --key go with --candidates", EXIT_INVALID)
    if candidates and apply_key is not None:
        fail("--candidates and --apply are separate steps: run them one after the other",
             EXIT_INVALID)
    if day is not None:
        try:
            day = day_text(day)
        except ValueError:
            fail(f"--day must be YYYY-MM-DD, got {day!r}", EXIT_INVALID)
    with guarded():
        store = open_store()
        ledger = Ledger(store.redis, store.namespace,
                        keep_days=settings().ledger_keep_days)
        if apply_key is not None:
            stored, rec = apply(store, ledger, apply_key, days=days, day=day,
                                expect_version=expect_version)
            entry = store.history(1)[0]
            if as_json:
                emit_json({"version": stored.version, "model_key": apply_key,
                           "recommendation": rec, "summary": entry.get("summary")})
            else:
                say(f"stored routing config version {stored.version}: {entry.get('summary')}")
                say(f"undo with: llm-router config rollback {stored.version - 1}")
            return
        if candidates:
            from cli.candidates_view import run_candidates

            run_candidates(store, ledger, days=days, day=day, keys=only_keys, add=add,
                           sample=trial_sample, budget_usd=trial_budget_usd,
                           expect_version=expect_version, as_json=as_json)
            return
        result = build_review(ledger, store.read(), days, day=day)
    if as_json:
        emit_json(result)
    else:
        for line in review_lines(result):
            say(line)
