"""`llm-router prices check|update`: the live config's prices against the pinned price
catalog (genai-prices, read offline from the installed package), and the catalog's
prices written as a new config version."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any

import typer

from cli import prices_app
from cli.context import (
    EXIT_DRIFT,
    EXIT_ERROR,
    JsonOpt,
    emit_json,
    fail,
    guarded,
    open_store,
    say,
)
from cli.table import Table

AUTHOR = "prices"
CHECK_HELP = (
    "Exit codes: 0 every price agrees with the catalog (models it does not know are listed, "
    "not counted); 1 Redis unreachable, no config stored, or --latest could not fetch; "
    "2 refused input; 4 a price drifts from the catalog."
)
UPDATE_HELP = (
    "Exit codes: 0 done (or nothing to change); 1 Redis unreachable, no config stored, or "
    "--latest could not fetch; 2 refused input (a model the config or the catalog does not "
    "know; nothing stored); 3 version conflict (nothing stored)."
)
LatestOpt = Annotated[bool, typer.Option(
    "--latest", help="Fetch the catalog's newest published prices over the network for "
    "this command (opt-in; default: the prices bundled in the pinned package, offline).")]


def _latest_prices(latest: bool) -> AbstractContextManager[None]:
    """The catalog's newest published prices for the block when `latest` (the catalog, and
    genai-prices, load only then: the bundled prices' answers come from its cache)."""
    if not latest:
        return nullcontext()
    from routing.catalog.lookup import with_latest_prices

    return with_latest_prices()


def _rate(value: str | None) -> str:
    return "-" if value is None else value


def _check_lines(result: dict[str, Any]) -> list[str | Table]:
    cat = result["catalog"]
    out: list[str | Table] = [
        f"routing config version {result['config_version']} against the price catalog "
        f"{cat['package']} {cat['version']} ({'fetched' if cat['fetched'] else 'bundled'} "
        f"data, verified up to {cat['data_date']})"]
    table = Table("model", "field", "above input tokens", "config $/MTok", "catalog $/MTok",
                  "ratio")
    for m in result["models"]:
        for f in m["fields"]:
            ratio = "-" if f["ratio"] is None else f"{f['ratio']:.3f}x"
            table.add_row(m["model"], f["field"], f"{f['above_input_tokens']:,}",
                          _rate(f["config"]), _rate(f["catalog"]), ratio)
    if table.rows:
        out.append(table)
    for m in result["models"]:
        if m["missing_tiers"]:
            out.append(f"{m['model']}: the config lacks the catalog's tier(s) above "
                       f"{', '.join(f'{t:,}' for t in m['missing_tiers'])} input tokens")
        if m["extra_tiers"]:
            out.append(f"{m['model']}: the catalog has no tier above "
                       f"{', '.join(f'{t:,}' for t in m['extra_tiers'])} input tokens")
        if m["status"] == "unknown":
            out.append(f"{m['model']}: not in the catalog ({m['reason']}); its explicit "
                       "prices are kept (give their source in the config)")
    agree = [m["model"] for m in result["models"] if m["status"] == "agrees"]
    out.append(f"agree: {', '.join(agree) or 'none'}")
    if result["drifted"]:
        out.append(f"drift: {', '.join(result['drifted'])}; fix with: llm-router prices "
                   f"update {' '.join(result['drifted'])} --expect-version "
                   f"{result['config_version']}")
    return out


@prices_app.command("check", short_help="Config prices against the catalog.",
                    epilog=CHECK_HELP)
def check(latest: LatestOpt = False, as_json: JsonOpt = False) -> None:
    """Every model of the live config against the pinned price catalog, field by field
    and tier by tier: config, catalog, ratio; missing tiers; models the catalog does not
    know; the catalog's data date."""
    from routing.errors import CatalogMissError
    from routing.prices.drift import check as check_prices

    with guarded():
        config = open_store().read()
        try:
            with _latest_prices(latest):
                result = check_prices(config)
        except CatalogMissError as exc:
            fail(str(exc), EXIT_ERROR)
    if as_json:
        emit_json(result)
    else:
        for line in _check_lines(result):
            say(line)
    if result["drifted"]:
        raise typer.Exit(EXIT_DRIFT)


@prices_app.command("update", short_help="Write catalog prices as a new version.",
                    epilog=UPDATE_HELP)
def update(
    models: Annotated[list[str] | None, typer.Argument(
        help="The models to update (default: every model the catalog knows).")] = None,
    expect_version: Annotated[int | None, typer.Option(
        "--expect-version", min=0,
        help="Refuse (exit 3) unless the store still holds this version.")] = None,
    latest: LatestOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the catalog's prices of MODEL... into the routing config: validated, a new
    version by author 'prices' with each changed price in its history entry, so `config
    rollback` undoes it."""
    from routing.catalog.cache import info
    from routing.errors import CatalogMissError, VersionConflictError
    from routing.prices.drift import updated

    with guarded():
        store = open_store()
        current = store.read()
        if expect_version is not None and current.version != expect_version:
            raise VersionConflictError(expect_version, current.version)
        doc = current.document()
        try:
            with _latest_prices(latest):
                changed, unknown = updated(doc, current, models or None)
                source = info().shown()
        except CatalogMissError as exc:
            fail(str(exc), EXIT_ERROR)
        written = current
        if changed:
            written = store.write(doc, author=AUTHOR, summary=(
                f"prices of {', '.join(changed)} from the catalog: {source}"),
                expect_version=current.version)
    entry = store.history(1)[0] if changed else None
    if as_json:
        emit_json({"version": written.version, "changed": changed,
                   "not_in_catalog": unknown, "entry": entry})
        return
    if not changed:
        say(f"unchanged (version {written.version}): the prices already match the catalog; "
            "nothing was written")
    else:
        say(f"stored routing config version {written.version}: {entry['summary'] if entry else ''}")
        for path in (entry or {}).get("changes", []):
            say(f"  changed {path}")
        say(f"undo with: llm-router config rollback {written.version - 1}")
    if unknown:
        say(f"not in the catalog (explicit prices kept): {', '.join(unknown)}")
