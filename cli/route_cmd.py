"""`llm-router route MODEL_KEY`: the decision the router makes now, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import app
from cli.context import (
    EXIT_CODES_READ_HELP,
    EXIT_INVALID,
    JsonOpt,
    emit_json,
    fail,
    guarded,
    open_store,
    say,
)
from cli.table import Table
from routing.config.kinds import Capability, capabilities_shown


@app.command("route", short_help="Which model and queue a model key gets.",
             epilog=EXIT_CODES_READ_HELP)
def route(
    model_key: Annotated[str, typer.Argument(help="The kind of work, e.g. code_review.")],
    input_tokens: Annotated[
        int | None, typer.Option(min=0, help="Input size in tokens.")
    ] = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option(help="Estimate the input size from this prompt (about 4 chars/token)."),
    ] = None,
    needs: Annotated[
        str | None,
        typer.Option(help="What the call needs of its model, comma-separated: "
                          f"{', '.join(Capability)} (models without it are skipped)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Which model, tier and queue MODEL_KEY goes to, and the rule that decided it."""
    from routing.router import Router
    from routing.tokens import estimate_tokens

    needed = _needs(needs)

    if input_tokens is not None and prompt_file is not None:
        fail("give either --input-tokens or --prompt-file, not both", EXIT_INVALID)
    tokens = input_tokens or 0
    if prompt_file is not None:
        try:
            tokens = estimate_tokens(prompt=prompt_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--prompt-file: cannot read {prompt_file}: {exc}", EXIT_INVALID)
    with guarded():
        decision = Router(open_store().read()).decide(model_key, tokens, needed)
    out = decision.as_dict()
    if as_json:
        emit_json({**out, "input_tokens": tokens, "needs": sorted(needed)})
        return

    table = Table("field", "value", show_header=False)
    for field in ("model_key", "model", "tier", "queue", "rule", "config_version"):
        table.add_row(field, str(out[field]))
    table.add_row("fallbacks", ", ".join(decision.fallbacks))
    table.add_row("input_tokens", str(tokens))
    if needed:
        table.add_row("needs", capabilities_shown(needed))
    for model, reason in decision.skipped:
        table.add_row("skipped", f"{model} ({reason})")
    say(table)


def _needs(given: str | None) -> frozenset[Capability]:
    if not given:
        return frozenset()
    names = [n.strip() for n in given.split(",") if n.strip()]
    unknown = [n for n in names if n not in Capability.__members__]
    if unknown:
        fail(f"--needs: unknown capability {', '.join(repr(n) for n in unknown)}; give "
             f"a comma-separated list of {', '.join(Capability)}", EXIT_INVALID)
    return frozenset(Capability(n) for n in names)
