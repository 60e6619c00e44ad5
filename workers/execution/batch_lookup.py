"""Finding a submission at its provider after a create whose answer never came back.

A create can be accepted by the provider and its answer lost (a timeout, a connection
cut, a worker killed before it wrote the provider's batch id down). Creating again would
pay every request twice, so before any new create the sweeper looks among the provider's
batches created since its first create (`Batch.creating`, by the Redis server's clock,
less `CLOCK_SLACK_SECONDS` for the provider's clock) for those that are this submission
(`BatchAPI.find`) and that no other record holds (`BatchStore.own`).
"""

from __future__ import annotations

from collections.abc import Sequence

from routing.batches.store import Batch, BatchStore
from workers.providers.batch import BatchAPI, BatchItem

# How far the provider's clock may be behind the Redis server's.
CLOCK_SLACK_SECONDS = 300.0


def lookup(api: BatchAPI, store: BatchStore, batch: Batch,
           items: Sequence[BatchItem]) -> list[str]:
    """The provider's batches of this submission that no other record holds, oldest first."""
    since = batch.creating / 1000 - CLOCK_SLACK_SECONDS
    owners = store.owners()
    return [found for found in api.find(items, batch.id, since)
            if owners.get(found, batch.id) == batch.id]


def cancel_duplicates(api: BatchAPI, store: BatchStore, batch: Batch,
                      items: Sequence[BatchItem], kept: str) -> list[str]:
    """Cancel every batch of this submission but `kept`; the ones canceled."""
    duplicates = [found for found in lookup(api, store, batch, items) if found != kept]
    for found in duplicates:
        api.cancel(found)
    return duplicates
