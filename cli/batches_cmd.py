"""`llm-router batches list|cancel`: the provider batches of this deployment.

`list` shows every batch record kept in Redis (closed batches, active or over, for three
days) and, for each provider whose API key is set here, the provider's batches of those
days that no record holds: orphans (a create whose answer was lost before this version
adopted such batches, or one canceled that still shows). OpenAI batches carry their
llm-router label, so an OpenAI orphan is surely llm-router's; Anthropic batches carry none,
so every Anthropic batch no record holds is listed, marked as possibly another
application's. `cancel ID` cancels a tracked batch (by its id or its provider's id) or an
orphan at its provider, and notes it on the record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import batches_app
from cli.context import (
    EXIT_ERROR,
    EXIT_INVALID,
    JsonOpt,
    emit_json,
    fail,
    guarded,
    open_store,
    say,
)
from cli.table import Table

if TYPE_CHECKING:
    from routing.batches.store import Batch, BatchStore
    from workers.providers.batch import ProviderBatch

# The providers whose batch APIs llm-router submits to (and so lists for orphans).
PROVIDERS = ("anthropic", "openai")
EXIT_HELP = ("Exit codes: 0 done; 1 Redis or a provider unreachable, or nothing to act on "
             "(the batch is over, or not at a provider yet); 2 an unknown batch id.")


@contextmanager
def _redis() -> Iterator[None]:
    """Routing errors as every command has them; Redis refusing or unreachable: exit 1."""
    import redis

    with guarded():
        try:
            yield
        except redis.RedisError as exc:
            from routing.redis_url import redact_url
            from workers.settings import get_settings

            fail(f"Redis at {redact_url(get_settings().redis_url)}: {exc}", EXIT_ERROR)


def _store() -> BatchStore:
    from routing.batches.store import BatchStore

    config = open_store()
    return BatchStore(config.redis, config.namespace)


def _row(batch: Batch, now_ms: int) -> dict[str, Any]:
    from routing.batches.store import SUBMITTED

    since = batch.closed or batch.created
    return {"id": batch.id, "provider": batch.provider, "model": batch.model,
            "requests": batch.count,
            "status": "canceled" if batch.canceled and batch.state == SUBMITTED
            else batch.state,
            "age_seconds": max(0, (now_ms - since) // 1000) if since else None,
            "submission": batch.id, "provider_batch": batch.provider_batch or None,
            "duplicates_canceled": batch.duplicates.split() if batch.duplicates else [],
            "creates": batch.creates, "error": batch.error or None}


def _orphans(store: BatchStore, held: set[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The providers' batches of the last days that no record holds, and the providers
    that were not asked (why)."""
    from routing.batches.store import KEEP_SECONDS
    from workers.providers.errors import ProviderError
    from workers.providers.registry import Providers
    from workers.settings import get_settings

    providers = Providers(get_settings())
    since = time.time() - KEEP_SECONDS
    found: list[dict[str, Any]] = []
    unchecked: dict[str, str] = {}
    for name in PROVIDERS:
        try:
            listing: list[ProviderBatch] = list(providers.batches(name).listing(since))
        except ProviderError as exc:
            unchecked[name] = str(exc)
            continue
        for b in listing:
            if b.id in held or (name == "openai" and not b.label):
                continue
            found.append({"id": b.id, "provider": name, "status": b.status,
                          "requests": b.requests, "age_seconds": int(time.time() - b.created),
                          "submission": b.label, "ended": b.ended,
                          "llm_router": True if b.label else None})
    return found, unchecked


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@batches_app.command("list", short_help="Tracked batches, and orphans at providers.",
                     epilog=EXIT_HELP)
def list_batches(as_json: JsonOpt = False) -> None:
    """Every provider batch llm-router tracks (id, provider, model, requests, status, age,
    submission id, the provider's id), the calls still waiting in open batches, and the
    providers' batches that no record holds (orphans), for each provider with a key here."""
    with _redis():
        store = _store()
        now = store.now_ms()
        tracked = store.tracked()
        waiting = store.summary().get("open", (0, 0))
        held = {b.provider_batch for b in tracked if b.provider_batch} | set(store.owners())
        held |= {d for b in tracked for d in b.duplicates.split()}
    rows = [_row(b, now) for b in tracked]
    orphans, unchecked = _orphans(store, held)
    if as_json:
        emit_json({"namespace": store.namespace, "batches": rows,
                   "open": {"batches": waiting[0], "calls": waiting[1]},
                   "orphans": orphans, "orphans_unchecked": unchecked})
        return
    table = Table("id", "provider", "model", "requests", "status", "age", "provider batch")
    for r in rows:
        table.add_row(r["id"], r["provider"], r["model"], r["requests"], r["status"],
                      _age(r["age_seconds"]), r["provider_batch"] or "-")
    say(table if rows else "no provider batch tracked")
    say(f"open batches: {waiting[0]} ({waiting[1]} calls waiting)")
    for o in orphans:
        whose = "llm-router's" if o["llm_router"] else "no label: maybe another application's"
        say(f"orphan at {o['provider']}: {o['id']} ({o['status']}, {o['requests']} requests, "
            f"{_age(o['age_seconds'])} old; {whose}): `llm-router batches cancel {o['id']}`")
    for name, why in unchecked.items():
        say(f"{name}: not checked for orphans ({why})")


@batches_app.command("cancel", short_help="Cancel a batch at its provider.", epilog=EXIT_HELP)
def cancel(
    batch_id: Annotated[str, typer.Argument(
        metavar="ID", help="A batch id from `batches list`: llm-router's (b-...), its "
        "provider's, or an orphan's.")],
    as_json: JsonOpt = False,
) -> None:
    """Cancel the batch at its provider (requests not yet run are not billed) and note it
    on its record; the next sweep delivers its calls as the provider reports them
    (unanswered ones by their key's `on_failure`: called directly, or failed)."""
    from routing.batches.store import KEEP_SECONDS, SUBMITTED
    from workers.providers.errors import ProviderError
    from workers.providers.registry import Providers
    from workers.settings import get_settings

    with _redis():
        store = _store()
        batch = store.get(batch_id) if batch_id.startswith("b-") else None
        owner = store.owners().get(batch_id)
        if batch is None and owner is not None:
            batch = store.get(owner)
    providers = Providers(get_settings())
    if batch is not None:
        if batch.state != SUBMITTED or not batch.provider_batch:
            fail(f"batch {batch.id} is {batch.state}: "
                 + ("it is over, nothing to cancel" if batch.state in ("done", "failed")
                    else "it is not at its provider yet"), EXIT_ERROR)
        provider, target = batch.provider, batch.provider_batch
    else:
        found = None
        for name in PROVIDERS:
            try:
                listing = providers.batches(name).listing(time.time() - KEEP_SECONDS)
                found = next((name for b in listing if b.id == batch_id), None)
            except ProviderError:
                continue
            if found:
                break
        if found is None:
            fail(f"batch {batch_id}: unknown: no batch of namespace '{store.namespace}' nor "
                 "of a provider with a key here has that id; see `llm-router batches list`",
                 EXIT_INVALID)
        provider, target = found, batch_id
    try:
        providers.batches(provider).cancel(target)
    except ProviderError as exc:
        fail(f"batch {batch_id}: {provider} did not cancel {target}: {exc}", EXIT_ERROR)
    if batch is not None:
        with _redis():
            store.mark_canceled(batch.id)
    if as_json:
        emit_json({"canceled": target, "provider": provider,
                   "batch": batch.id if batch is not None else None})
        return
    say(f"canceled {target} at {provider}"
        + (f" (batch {batch.id}; its calls are delivered at the next sweep)" if batch else ""))
