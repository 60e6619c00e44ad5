"""`llm-router trial replay KEY --candidate MODEL`: a key's recorded samples asked again
of a candidate on its tier's workers, scored as live trials, into the trial's evidence
(marked replay); `llm-router review` then weighs live and replay samples together."""

from __future__ import annotations

from decimal import Decimal

import typer

from cli import trial_app
from cli.context import (
    EXIT_ERROR,
    EXIT_INVALID,
    JsonOpt,
    fail,
    guarded,
    json_requested,
    open_store,
    say,
)

EXIT_HELP = ("Exit codes: 0 done; 1 Redis unreachable, no recorded samples, or the replay "
             "cut off (run it again: it resumes); 2 an unknown key or model, no trial of "
             "the candidate, --batch without a batch API.")


@trial_app.command("replay", short_help="Replay recorded samples on a candidate.",
                   epilog=EXIT_HELP)
def replay(
    key: str = typer.Argument(..., metavar="MODEL_KEY", help="The model key."),
    candidate: str = typer.Option(..., "--candidate", metavar="MODEL",
                                  help="The candidate model (it needs a trial on the key)."),
    samples: int | None = typer.Option(None, "--samples", min=1, metavar="N",
                                       help="The newest N recorded samples (default all)."),
    batch: bool | None = typer.Option(
        None, "--batch/--no-batch",
        help="One provider batch at the batch price (default where the candidate's "
             "provider has a batch API), or direct calls."),
    budget_usd: float | None = typer.Option(
        None, "--budget-usd", min=0, metavar="USD",
        help="Take samples while their worst cases fit in USD (the trial's daily budget "
             "caps it too)."),
    timeout: float = typer.Option(3600.0, min=0.1, help="Seconds to wait for the outcomes."),
    poll_seconds: float = typer.Option(30.0, min=0.05, help="Batch: seconds between polls."),
    as_json: JsonOpt = False,
) -> None:
    """Replay KEY's recorded samples on MODEL through the candidate's tier queue: paid
    from the trial's budget (never production spend), each sample claimed once (a cut-off
    replay resumes where it stopped, never paying twice), scored exactly as live shadow
    trials. Progress on stderr (a bar), or one JSON line per sample with --json, then
    the summary line."""
    import json

    from cli.replay_run import plan, send_and_wait, summary_document
    from routing.samples.store import SampleStore
    from workers.execution.replay import batch_available, refusal

    with guarded():
        store = open_store()
        config = store.read()
        why = refusal(config, key, candidate)
        if why is not None:
            fail(why, EXIT_INVALID)
        if batch is None:
            batch = batch_available(config, candidate)
        elif batch and not batch_available(config, candidate):
            fail(f"--batch: '{candidate}' ({config.models[candidate].provider}) has no batch "
                 "API or batch price: use --no-batch", EXIT_INVALID)
        chosen = plan(SampleStore(store.redis, store.namespace), config, key, candidate,
                      batch=batch, samples=samples,
                      budget_usd=None if budget_usd is None else Decimal(str(budget_usd)))
        if not chosen.sample_ids and not chosen.done_before:
            fail(f"no recorded samples of {key} to replay (record some: `samples` in its "
                 "config; see llm-router samples show)", EXIT_ERROR)
        from workers.app import app

        if as_json or json_requested():
            out = send_and_wait(app, config, chosen, timeout=timeout,
                                poll_seconds=poll_seconds,
                                each=lambda o: typer.echo(json.dumps(o)))
        else:
            from rich.console import Console
            from rich.progress import Progress

            with Progress(console=Console(stderr=True), transient=False) as bar:
                task = bar.add_task(f"{key} on {candidate}"
                                    + (" (batch)" if batch else ""),
                                    total=len(chosen.sample_ids))
                out = send_and_wait(app, config, chosen, timeout=timeout,
                                    poll_seconds=poll_seconds,
                                    each=lambda _: bar.advance(task))
    document = summary_document(chosen, out)
    if as_json:
        typer.echo(json.dumps({"summary": document}))  # the last of the JSON lines
    else:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(document["counts"].items()))
        say(f"{key} on {candidate}{' (batch price)' if batch else ''}: "
            f"{document['sent']} samples sent ({counts or 'no outcome'}), "
            f"${document['cost_usd']:.4f} of trial budget; {chosen.done_before} replayed "
            "before")
        if chosen.left_for_budget:
            say(f"{chosen.left_for_budget} samples left for --budget-usd: run again to go on")
        for why in out.stopped:
            say(f"stopped: {why}")
        say("next: llm-router review")
    if out.interrupted:
        fail("the replay was cut off before every outcome came back: run the same command "
             "again to resume (no sample is paid twice)", EXIT_ERROR)

