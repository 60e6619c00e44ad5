"""`llm-router samples show|purge KEY`: a model key's recorded samples (its prompts).

`show` says how many, from when to when and how many bytes, never the prompts' text
unless asked (`--text`); `purge` deletes every sample of the key and its counters.
"""

from __future__ import annotations

import typer

from cli import samples_app
from cli.context import EXIT_INVALID, JsonOpt, emit_json, fail, guarded, open_store, say

EXIT_HELP = ("Exit codes: 0 done; 1 Redis unreachable or no config stored; 2 an unknown "
             "model key.")


def _check_key(key: str, known: list[str]) -> None:
    if key not in known:
        fail(f"model key {key!r}: unknown (known: {', '.join(sorted(known))})", EXIT_INVALID)


@samples_app.command("show", short_help="Count, dates and bytes of KEY's samples.",
                     epilog=EXIT_HELP)
def show(
    key: str = typer.Argument(..., metavar="MODEL_KEY", help="The model key."),
    with_text: bool = typer.Option(
        False, "--text", help="Also print each sample's call and answer (prompts included)."),
    limit: int = typer.Option(20, min=1, max=100_000, help="With --text: the newest N."),
    as_json: JsonOpt = False,
) -> None:
    """Count, date range and bytes of KEY's recorded samples, and the samples refused
    for their size; the prompts themselves only with --text."""
    from routing.config.stored import dump
    from routing.samples.store import SampleStore

    with guarded():
        store = open_store()
        config = store.read()
        _check_key(key, list(config.model_keys))
        samples = SampleStore(store.redis, store.namespace)
        spec = config.model_keys[key].samples
        if spec is not None:
            samples.prune(key, spec.retention_seconds)
        summary = samples.summary(key).as_dict()
        summary["recording"] = None if spec is None else dump(spec)
        if with_text:
            summary["samples"] = samples.samples(key, limit)
    if as_json:
        emit_json(summary)
        return
    state = ("not recording (no `samples` in its config)" if spec is None else
             f"recording {spec.share:.1%} of its calls, at most {spec.max_count} kept "
             f"{spec.retention_days} days, {spec.max_bytes} bytes each")
    say(f"{key}: {state}")
    say(f"  {summary['count']} samples, {summary['bytes']} bytes"
        + (f", {summary['first']} to {summary['last']}" if summary["count"] else ""))
    say(f"  refused for size: {summary['oversize']}; dropped for the count: "
        f"{summary['dropped_for_count']}")
    for sample in summary.get("samples", []):
        call = sample["call"]
        say(f"- {sample['id']} ({sample['task_name']}, {sample['model']})")
        if call.get("system"):
            say(f"  system: {call['system']}")
        for message in call.get("messages", []):
            say(f"  {message['role']}: {message['content']}")
        say(f"  answer: {sample['answer']['text']}")


@samples_app.command("purge", short_help="Delete every recorded sample of KEY.",
                     epilog=EXIT_HELP)
def purge(
    key: str = typer.Argument(..., metavar="MODEL_KEY", help="The model key."),
    as_json: JsonOpt = False,
) -> None:
    """Delete every recorded sample of KEY (prompts and answers) and its counters. A
    key whose config still has `samples` keeps recording new calls: remove it from the
    config to stop."""
    from routing.samples.store import SampleStore

    with guarded():
        store = open_store()
        config = store.read()
        _check_key(key, list(config.model_keys))
        deleted = SampleStore(store.redis, store.namespace).purge(key)
    if as_json:
        emit_json({"model_key": key, "deleted": deleted})
    else:
        say(f"{key}: {deleted} samples deleted")
