"""Submitting provider batches, polling them, and delivering their answers to the tasks.

`BatchSweeper.sweep(model)` (Beat's `cron.provider_batches` asks each model's tier to run
it every 30 seconds; a worker whose call filled a batch submits that one at once):
- closes the model's open batch when its oldest call waited its key's `max_wait_seconds`
  (`flush`: whatever its age) and submits it, as it submits a batch its last call filled
  (OpenAI: upload, then create; each step recorded, so a resumed submission never uploads
  twice);
- claims each of the model's batches at its provider in turn (one claimer at a time,
  across workers and Beats) and asks the provider how it is doing; once it is over, writes
  each task's outcome (once) and re-publishes the task's own message (same task id, its
  tier's queue, header `BATCH_HEADER`), where the task carries on as after a direct call;
  a request without an answer (expired, canceled, a failed batch) is delivered as such and
  the task's batch policy decides (called directly, or failed). Nothing is dropped.

A submission refused for good (or 5 times in a row) fails the batch the same way, and so
does polling that the provider refuses for good (a 404: the batch is not found; a 401) or
that has not seen the batch over `POLL_DEADLINE_SECONDS` after its submission (the
provider's 24 hours and half an hour): its tasks are never left waiting.

A submission is paid once. Before each create the record notes the intent (`creating`);
a create that failed without a clear refusal (a timeout: the answer may be what was
lost), or a record found with an intent but no provider batch (its worker died between
the provider's acceptance and the record), is looked up at the provider
(`batch_lookup`) before any new create: a batch found is adopted, and every other batch
of the same submission is canceled, then and once more at the batch's first poll (a
create the provider committed late). Each task takes one answer (outcomes are written
once, settlements are idempotent), so a duplicate is never charged twice.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from routing.batches.store import DONE, FAILED, SUBMITTED, SUBMITTING, Batch, record_from_json
from workers.execution.batch_lookup import cancel_duplicates, lookup
from workers.execution.batch_policy import BATCH_HEADER, CLAIM_SECONDS, POLL_DEADLINE_SECONDS
from workers.execution.runtime import Runtime
from workers.providers.batch import BatchAPI, BatchItem, outcome_json, request_from_json
from workers.providers.errors import PermanentError, ProviderError

log = logging.getLogger(__name__)

MAX_SUBMIT_ATTEMPTS = 5
Publish = Callable[[dict[str, Any]], object]


def delivery(message: dict[str, Any], batch_id: str) -> dict[str, Any]:
    """The task's stored message, re-published with its batch's answer waiting for it. Its
    expiry is dropped: the work is done and paid for, its answer must reach the caller."""
    payload = copy.deepcopy(message)
    options = payload.setdefault("options", {})
    options["headers"] = {**(options.get("headers") or {}), BATCH_HEADER: batch_id}
    for name in ("expires", "eta", "countdown"):
        options.pop(name, None)
    return payload


class BatchSweeper:
    def __init__(self, rt: Runtime, publish: Publish) -> None:
        self.rt = rt
        self.store = rt.batches
        self.publish = publish

    def models(self, *, flush: bool = False) -> list[str]:
        """Models with work: a due open batch (`flush`: any), or a batch at a provider."""
        return sorted({*self.store.due_models(everything=flush), *self.store.active().values()})

    def sweep(self, model: str, *, flush: bool = False) -> dict[str, int]:
        """Submit `model`'s due batch, advance its batches at the provider; counts."""
        counts: Counter[str] = Counter()
        self.submit(model, force=flush, counts=counts)
        for batch_id, of in sorted(self.store.active().items()):
            if of == model:
                self.advance(batch_id, counts)
        return dict(counts)

    def submit(self, model: str, *, force: bool = False,
               counts: Counter[str] | None = None) -> Batch | None:
        """Close and submit `model`'s open batch if it is due (or `force`)."""
        token = uuid.uuid4().hex
        batch = self.store.close(model, token, CLAIM_SECONDS, force=force)
        if batch is not None:
            self._submit(batch, token, Counter() if counts is None else counts)
        return batch

    def advance(self, batch_id: str, counts: Counter[str]) -> None:
        """Resume a submission, or poll the provider and deliver, unless someone else is."""
        token = uuid.uuid4().hex
        batch = self.store.claim(batch_id, token, CLAIM_SECONDS, (SUBMITTING, SUBMITTED))
        if batch is None:
            counts["claimed_elsewhere"] += 1
        elif batch.state == SUBMITTING:
            self._submit(batch, token, counts)
        else:
            self._poll(batch, token, counts)

    # -- steps ------------------------------------------------------------------------------
    def _items(self, batch: Batch) -> tuple[dict[str, dict[str, Any]], list[BatchItem]]:
        raw = self.store.items(batch.id)
        return raw, [BatchItem(cid, request_from_json(item["request"]))
                     for cid, item in sorted(raw.items())]

    def _submit(self, batch: Batch, token: str, counts: Counter[str]) -> None:
        raw, items = self._items(batch)
        try:
            api = self.rt.providers.batches(batch.provider)
            if batch.creating and self._adopt(api, batch, token, items, counts):
                return
            prepared = batch.prepared or api.prepare(items, label=batch.id)
            if prepared and not batch.prepared and not self.store.update(
                    batch.id, token, prepared=prepared):
                return  # our claim lapsed: someone else carries on
            # The intent, written before the create: whoever comes next looks it up first.
            batch = replace(batch, creating=batch.creating or self.store.now_ms(),
                            creates=batch.creates + 1)
            if not self.store.update(batch.id, token, creating=batch.creating,
                                     creates=batch.creates):
                return
            try:
                provider_batch = api.create(items, prepared or None, label=batch.id)
            except ProviderError as exc:
                # Not refused: the provider may have accepted it and the answer was lost.
                if not isinstance(exc, PermanentError) and self._adopt(
                        api, batch, token, items, counts):
                    return
                raise
        except ProviderError as exc:
            attempts = batch.attempts + 1
            if isinstance(exc, PermanentError) or attempts >= MAX_SUBMIT_ATTEMPTS:
                log.warning("batch %s (%d calls on %s) refused: %s", batch.id, len(items),
                            batch.model, exc)
                self._fail(batch, token, raw, f"the provider refused the batch: {exc}", counts)
                return
            log.info("batch %s: submission failed (attempt %d), will retry: %s", batch.id,
                     attempts, exc)
            self.store.update(batch.id, token, release=True, attempts=attempts,
                              error=str(exc)[:500])
            counts["submit_retries"] += 1
            return
        # An earlier create of this submission may yet have been accepted: cancel it.
        canceled = self._cancel_duplicates(api, batch, items, provider_batch) \
            if batch.creates > 1 else []
        self._record(batch, token, provider_batch, len(items), canceled, counts)
        counts["submitted"] += 1

    def _adopt(self, api: BatchAPI, batch: Batch, token: str, items: list[BatchItem],
               counts: Counter[str]) -> bool:
        """Take the provider batch of this submission an earlier create made, if any (and
        cancel the others); False: there is none, create it."""
        for found in lookup(api, self.store, batch, items):
            if self.store.own(found, batch.id):
                log.warning("batch %s: a create's answer was lost; the provider had "
                            "accepted it as %s: adopted", batch.id, found)
                canceled = self._cancel_duplicates(api, batch, items, found)
                self._record(batch, token, found, len(items), canceled, counts)
                counts["adopted"] += 1
                return True
        return False

    def _record(self, batch: Batch, token: str, provider_batch: str, n: int,
                canceled: list[str], counts: Counter[str]) -> None:
        self.store.own(provider_batch, batch.id)
        self.store.update(batch.id, token, release=True, state=SUBMITTED,
                          provider_batch=provider_batch, submitted="NOW",
                          duplicates=" ".join(canceled))
        log.info("batch %s: %d calls on %s submitted to %s as %s", batch.id, n,
                 batch.model, batch.provider, provider_batch)
        if canceled:
            log.warning("batch %s: canceled %s, duplicate(s) of %s at %s", batch.id,
                        ", ".join(canceled), provider_batch, batch.provider)
            counts["duplicates_canceled"] += len(canceled)

    def _late_duplicates(self, api: BatchAPI, batch: Batch, token: str,
                         counts: Counter[str]) -> None:
        """Once, at the first poll: a create that was not found when the next one was made
        may have been accepted since (a provider slow to commit it): cancel it."""
        canceled = self._cancel_duplicates(api, batch, self._items(batch)[1],
                                           batch.provider_batch)
        if canceled:
            log.warning("batch %s: canceled %s, accepted late, duplicate(s) of %s at %s",
                        batch.id, ", ".join(canceled), batch.provider_batch, batch.provider)
            counts["duplicates_canceled"] += len(canceled)
        self.store.update(batch.id, token, checked=1,
                          duplicates=" ".join([*batch.duplicates.split(), *canceled]))

    def _cancel_duplicates(self, api: BatchAPI, batch: Batch, items: list[BatchItem],
                           kept: str) -> list[str]:
        try:
            return cancel_duplicates(api, self.store, batch, items, kept)
        except ProviderError as exc:  # `llm-router batches list` shows what is left
            log.warning("batch %s: looking for duplicates of %s failed: %s", batch.id, kept,
                        exc)
            return []

    def _poll(self, batch: Batch, token: str, counts: Counter[str]) -> None:
        try:
            api = self.rt.providers.batches(batch.provider)
            if batch.creates > 1 and not batch.checked:
                self._late_duplicates(api, batch, token, counts)
            status = api.status(batch.provider_batch)
            if not status.ended:
                if self._overdue(batch, token, f"still {status.detail[:200]}", counts):
                    return
                self.store.update(batch.id, token, release=True, polled="NOW",
                                  detail=status.detail[:300])
                counts["in_progress"] += 1
                return
            raw, items = self._items(batch)
            results = list(api.results(status, items))
        except ProviderError as exc:
            if isinstance(exc, PermanentError):
                log.warning("batch %s (%s, %d calls on %s): the provider refused polling "
                            "(%s): its calls go on without it", batch.id,
                            batch.provider_batch, batch.count, batch.model, exc)
                self._fail(batch, token, self._items(batch)[0],
                           f"polling it was refused: {exc}", counts)
                return
            if self._overdue(batch, token, f"polling failed: {exc}", counts):
                return
            log.warning("batch %s (%s): polling failed, will retry: %s", batch.id,
                        batch.provider_batch, exc)
            self.store.update(batch.id, token, release=True, error=str(exc)[:500])
            counts["poll_errors"] += 1
            return
        latency = max(0.0, time.time() - batch.submitted / 1000) if batch.submitted else 0.0
        sent = self.store.sent(batch.id)
        answered: set[str] = set()
        for result in results:
            item = raw.get(result.custom_id)
            if item is None or result.custom_id in answered:
                continue
            answered.add(result.custom_id)
            if result.custom_id not in sent:
                self._deliver(batch, item, outcome_json(result, status.id, latency), counts)
        for cid, item in sorted(raw.items()):
            if cid not in answered and cid not in sent:
                self._deliver(batch, item, {"kind": status.unfinished, "batch_id": status.id,
                                            "reason": status.reason}, counts)
        self.store.finish(batch.id, token, DONE)
        log.info("batch %s (%s, %d calls on %s): %s", batch.id, status.id, len(raw),
                 batch.model, status.detail)
        counts["delivered_batches"] += 1

    def _overdue(self, batch: Batch, token: str, why: str, counts: Counter[str]) -> bool:
        """Fail the batch if the provider has not reported it over within the deadline
        after its submission (by the Redis server's clock, which stamped it)."""
        since = batch.submitted or batch.closed or batch.created
        hours = (self.store.now_ms() - since) / 3_600_000
        if not since or hours * 3600 < POLL_DEADLINE_SECONDS:
            return False
        log.warning("batch %s (%s, %d calls on %s): not over %.1f hours after its "
                    "submission (%s): its calls go on without it", batch.id,
                    batch.provider_batch, batch.count, batch.model, hours, why)
        self._fail(batch, token, self._items(batch)[0],
                   f"not over {hours:.1f} hours after its submission ({why})", counts)
        return True

    def _fail(self, batch: Batch, token: str, raw: dict[str, dict[str, Any]], reason: str,
              counts: Counter[str]) -> None:
        sent = self.store.sent(batch.id)
        for cid, item in sorted(raw.items()):
            if cid not in sent:
                self._deliver(batch, item, {"kind": "failed", "batch_id": batch.id,
                                            "reason": reason}, counts)
        self.store.finish(batch.id, token, FAILED)
        counts["failed_batches"] += 1

    def _deliver(self, batch: Batch, item: dict[str, Any], outcome: dict[str, Any],
                 counts: Counter[str]) -> None:
        """Write the task's outcome (once), then re-publish the task to take it."""
        record = record_from_json(item["record"])
        self.store.save_outcome(str(item["task_id"]), record, outcome)
        self.publish(delivery(item["message"], batch.id))
        self.store.mark_sent(batch.id, [record.custom_id])
        counts[str(outcome["kind"])] += 1
