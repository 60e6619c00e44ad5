"""`llm-router review --candidates [--add]`: the models that could serve each key for
less (`routing.evidence.candidates`), as text or JSON, and adding their trials."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cli.context import EXIT_INVALID, emit_json, fail, say
from routing.config.store import ConfigStore
from routing.spend.ledger import Ledger

AUTHOR = "review"


def run_candidates(store: ConfigStore, ledger: Ledger, *, days: int, day: str | None,
                   keys: list[str] | None, add: bool, sample: float, budget_usd: float,
                   expect_version: int | None, as_json: bool) -> None:
    from routing.evidence.candidates import add_trials, propose
    from routing.evidence.review import review
    from routing.samples.store import SampleStore

    config = store.read()
    unknown = [k for k in keys or [] if k not in config.model_keys]
    if unknown:
        fail(f"--key {unknown[0]}: unknown model key (known: "
             f"{', '.join(sorted(config.model_keys))})", EXIT_INVALID)
    evidence = review(ledger, config, days, day=day)["model_keys"]
    if keys:
        evidence = {k: v for k, v in evidence.items() if k in keys}
    samples = SampleStore(store.redis, store.namespace)
    proposed = propose(config, evidence, {k: samples.largest_input(k) for k in evidence})
    document: dict[str, Any] = {"config_version": config.version, "days": days,
                                "model_keys": proposed}
    if add:
        doc, changes = add_trials(config, proposed, keys, sample=sample,
                                  budget_usd=Decimal(str(budget_usd)))
        if changes:
            stored = store.write(doc, author=AUTHOR,
                                 summary="review --candidates --add: " + "; ".join(changes),
                                 expect_version=config.version if expect_version is None
                                 else expect_version)
            document.update(version=stored.version, added=changes)
        else:
            document.update(version=config.version, added=[])
    if as_json:
        emit_json(document)
        return
    for line in candidate_lines(proposed):
        say(line)
    if add:
        if document["added"]:
            say(f"stored routing config version {document['version']}:")
            for change in document["added"]:
                say(f"  {change}")
            say(f"undo with: llm-router config rollback {document['version'] - 1}; next: "
                "llm-router trial replay KEY --candidate MODEL, then llm-router review")
        else:
            say("nothing to add: no key has a candidate without a trial")


def candidate_lines(proposed: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for key, entry in proposed.items():
        if "reason" in entry:
            lines.append(f"{key} ({entry['model']}): {entry['reason']}")
            continue
        found = entry["candidates"]
        lines.append(f"{key} ({entry['model']}, ${entry['monthly_usd']:.2f}/month; needs "
                     f"{entry['needed_context']} tokens of context"
                     + (f", {', '.join(entry['needs'])}" if entry["needs"] else "") + "): "
                     + (f"{len(found)} cheaper candidates" if found else
                        "no cheaper model fits"))
        for c in found[:5]:
            marks = [m for m, on in (("new", c["new"]), ("in trial", c["in_trial"])) if on]
            shown = ", ".join([c["provider"], *marks])
            lines.append(f"  {c['model']} ({shown}): saves ${c['monthly_saving_usd']:.2f}/month"
                         + (f"; {'; '.join(c['notes'])}" if c["notes"] else ""))
        if len(found) > 5:
            lines.append(f"  ... and {len(found) - 5} more (--json lists every one)")
    return lines
