"""`llm-router config ...`: read and change the routing config in Redis."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import config_app
from cli.context import (
    EXIT_CODES_HELP,
    EXIT_INVALID,
    JsonOpt,
    author,
    emit_json,
    fail,
    guarded,
    open_store,
    say,
)
from cli.table import Table

if TYPE_CHECKING:
    from routing.config.models import RoutingConfig
    from routing.config.store import ConfigStore

ExpectOpt = Annotated[
    int | None,
    typer.Option(
        "--expect-version", min=0,
        help="Refuse (exit 3) unless the store still holds this version.",
    ),
]


def _written(store: ConfigStore, config: RoutingConfig, before: int, as_json: bool) -> None:
    """Report a write; `before` is the version read just before it. A document equal to
    the stored one writes nothing: the store returns the current version unchanged."""
    unchanged = config.version == before
    entry = None if unchanged else store.history(1)[0]
    if as_json:
        emit_json({"version": config.version, "namespace": store.namespace,
                   "unchanged": unchanged, "entry": entry})
        return
    if entry is None:
        say(f"unchanged (version {config.version}): the stored config already says this; "
            "nothing was written")
        return
    changes = entry.get("changes", [])
    say(f"stored routing config version {config.version} in '{store.namespace}'")
    for path in changes[:20]:
        say(f"  changed {path}")
    if len(changes) > 20:
        say(f"  ... and {len(changes) - 20} more")


def _document(file: Path) -> dict[str, Any]:
    from routing.config.file import read_document

    doc = read_document(file)
    doc.pop("version", None)  # the store assigns versions
    return doc


@config_app.command("init", short_help="Store the first routing config.",
                    epilog=EXIT_CODES_HELP)
def init(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="YAML/JSON config (default: shipped).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a stored config (history is kept).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Store the first routing config (the shipped default unless --file)."""
    with guarded():
        store = open_store()
        doc = _document(file) if file is not None else None
        before = store.version()
        _written(store, store.init(doc, force=force, author=author()), before, as_json)


@config_app.command("show", short_help="Show the routing config.")
def show(
    version: Annotated[int | None, typer.Option(help="A past version from the history.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the routing config (the current one unless --version)."""
    with guarded():
        store = open_store()
        config = store.read() if version is None else store.get_version(version)
    if as_json:
        emit_json(config.document())
        return

    say(f"routing config version {config.version} in '{store.namespace}'")
    keys = Table("model key", "model", "tier", "queue", "fallbacks", "escalate to", "max tokens")
    for name, spec in config.model_keys.items():
        tier = config.models[spec.model].tier
        keys.add_row(
            name, spec.model, tier, config.tiers[tier].queue, ", ".join(spec.fallbacks),
            spec.escalate_to or "", str(spec.max_tokens),
        )
    say(keys)
    models = Table("model", "provider", "tier", "context", "in $/MTok", "out $/MTok")
    for name, model in config.models.items():
        price = config.price_of(name)
        models.add_row(
            name, model.provider.value, model.tier, str(model.context_window),
            str(price.input), str(price.output),
        )
    say(models)
    if config.rules:
        rules = Table("rule", "model keys", "min input tokens", "model")
        for rule in config.rules:
            rules.add_row(
                rule.name, ", ".join(rule.model_keys), str(rule.min_input_tokens), rule.model
            )
        say(rules)


@config_app.command("set", short_help="Route a model key to another model.",
                    epilog=EXIT_CODES_HELP)
def set_model(
    model_key: Annotated[str, typer.Argument(help="The model key to re-route.")],
    model: Annotated[str, typer.Argument(help="A model of the catalog.")],
    expect_version: ExpectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Route MODEL_KEY to MODEL (MODEL is removed from the key's fallbacks)."""
    with guarded():
        store = open_store()
        before = store.version()
        config = store.set_model(model_key, model, author=author(), expect_version=expect_version)
        _written(store, config, before, as_json)


@config_app.command("apply", short_help="Replace the routing config with a file.",
                    epilog=EXIT_CODES_HELP)
def apply(
    file: Annotated[Path, typer.Argument(help="A whole config document, YAML or JSON.")],
    expect_version: ExpectOpt = None,
    summary: Annotated[str, typer.Option(help="What this change is for.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Replace the routing config with FILE (validated first; a refusal stores nothing)."""
    with guarded():
        store = open_store()
        before = store.version()
        config = store.write(
            _document(file), author=author(), summary=summary or f"apply {file.name}",
            expect_version=expect_version,
        )
        _written(store, config, before, as_json)


@config_app.command("history", short_help="Who changed the config, when, and what.")
def history(
    limit: Annotated[int, typer.Option(min=1, help="How many entries, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Who changed the config, when, and which paths."""
    with guarded():
        store = open_store()
        entries = store.history(limit)
    if as_json:
        emit_json({"namespace": store.namespace, "entries": entries})
        return

    table = Table("version", "at (UTC)", "author", "summary", "changed paths")
    for e in entries:
        paths = e.get("changes", [])
        shown = ", ".join(paths[:4]) + (f" (+{len(paths) - 4})" if len(paths) > 4 else "")
        table.add_row(
            str(e["version"]), e["at"], e["author"], e["summary"], shown
        )
    say(table)


@config_app.command("diff", short_help="What changed between two versions.")
def diff_cmd(
    a: Annotated[int | None, typer.Argument(help="Old version (default: previous).")] = None,
    b: Annotated[int | None, typer.Argument(help="New version (default: current).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two versions (default: the previous one and the current one)."""
    from routing.config.diff import diff

    with guarded():
        store = open_store()
        current = store.read()
        new = current if b is None or b == current.version else store.get_version(b)
        old_version = a if a is not None else new.version - 1
        if old_version < 1:
            fail(f"version {new.version} has no previous version to compare with", EXIT_INVALID)
        old = store.get_version(old_version)
    changes = diff(old.document(), new.document())
    if as_json:
        emit_json({"from": old.version, "to": new.version,
                   "changes": [c.as_dict() for c in changes]})
        return

    say(f"version {old.version} -> {new.version}: {len(changes)} change(s)")
    table = Table("path", "old", "new")
    for change in changes:
        table.add_row(change.path, repr(change.old), repr(change.new))
    say(table)


@config_app.command("rollback", short_help="Restore an old version as a new one.",
                    epilog=EXIT_CODES_HELP)
def rollback(
    version: Annotated[int, typer.Argument(help="The version whose document to restore.")],
    expect_version: ExpectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a new version equal to VERSION (history is kept)."""
    with guarded():
        store = open_store()
        before = store.version()
        config = store.rollback(version, author=author(), expect_version=expect_version)
        _written(store, config, before, as_json)
