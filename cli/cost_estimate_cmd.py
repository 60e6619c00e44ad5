"""`llm-router cost estimate`: daily cost of a recurring task on every model."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import cost_app
from cli.context import EXIT_CODES_READ_HELP, JsonOpt, emit_json, guarded, open_store, say
from cli.table import Table


@cost_app.command("estimate", short_help="Daily cost of a recurring task per model.",
                  epilog=EXIT_CODES_READ_HELP)
def estimate_cmd(
    model_key: Annotated[str, typer.Argument(help="The kind of work, e.g. monitoring.")],
    runs_per_day: Annotated[int, typer.Option(min=0, help="e.g. 48 for every 30 minutes.")],
    input_tokens: Annotated[int, typer.Option(min=0, help="Input tokens per run.")],
    output_tokens: Annotated[int, typer.Option(min=0, help="Output tokens per run.")],
    as_json: JsonOpt = False,
) -> None:
    """Daily cost of a recurring task on every catalog model, and each one's ratio to the
    cheapest (from the config's prices); a model whose context window cannot hold a run
    is left out, saying so."""
    from routing.planning.estimate import estimate

    with guarded():
        result = estimate(
            open_store().read(), model_key, runs_per_day=runs_per_day,
            input_tokens=input_tokens, output_tokens=output_tokens,
        )
    if as_json:
        emit_json(result.as_dict())
        return
    say(
        f"{model_key}: {runs_per_day} runs/day x ({input_tokens} in + {output_tokens} out) "
        f"tokens, config version {result.config_version}"
    )

    from routing.money import usd

    table = Table("model", "tier", "per run $", "per day $", "per 30 days $", "x cheapest", "")
    for m in result.models:
        ratio = f"{m.ratio_to_cheapest:.2f}x" if m.ratio_to_cheapest is not None else "-"
        table.add_row(
            m.model, m.tier, f"{usd(m.per_run_micros):.6f}", f"{usd(m.daily_micros):.4f}",
            f"{usd(m.daily_micros * 30):.2f}", ratio, "<- routed" if m.routed else "",
        )
    say(table)
    for model, why in result.excluded:
        say(f"left out: {model}: cannot hold a run ({why})")
