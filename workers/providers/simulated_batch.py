"""Provider batches offline (`LLM_ROUTER_PROVIDER_MODE=simulated`): a batch is over as
soon as it is submitted, and each answer is the simulated provider's for that request.

Nothing is kept in memory: `results` answers the batch's requests again (the simulated
replies are a function of the request), so any process can deliver any simulated batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from workers.providers.batch import BatchItem, BatchStatus, ItemResult, ProviderBatch
from workers.providers.simulated import SimulatedProvider


class SimulatedBatches:
    """`BatchAPI` of the simulated provider (answers without its per-call latency)."""

    name = "simulated"

    def __init__(self, provider: SimulatedProvider) -> None:
        self.provider = provider

    def __repr__(self) -> str:
        return f"SimulatedBatches({self.provider!r})"

    def prepare(self, items: Sequence[BatchItem], *, label: str) -> str | None:
        return None

    def create(self, items: Sequence[BatchItem], prepared: str | None, *, label: str) -> str:
        return "simbatch_" + hashlib.sha256(label.encode()).hexdigest()[:24]

    def status(self, batch_id: str) -> BatchStatus:
        return BatchStatus(batch_id, True, "ended (simulated)")

    def results(self, status: BatchStatus, items: Sequence[BatchItem]) -> Iterator[ItemResult]:
        for item in items:
            yield ItemResult(item.custom_id, completion=self.provider.complete(item.request))

    def listing(self, since: float) -> Iterator[ProviderBatch]:
        return iter(())  # nothing is kept: a simulated create is never lost

    def find(self, items: Sequence[BatchItem], label: str, since: float) -> list[str]:
        return []

    def cancel(self, batch_id: str) -> None:
        return None
