"""What to do with a batched call's outcome: the pure part of provider batches.

A call of a model key with `batch` waits in a provider batch instead of being made (the
Celery side: `workers.execution.runner`, `workers.execution.batch_sweep`). When the batch
is over, its answer is re-published to the task (header `BATCH_HEADER`), which carries on
as after a direct call: a completion is priced at the batch rate and validated; an
errored request leads where the same error of a direct call leads (a retry, now direct;
a fallback; a failure) unless the key's policy is `fail`; a request the provider never
answered (the batch expired, was canceled or refused) is called directly, or fails,
by the key's `on_failure`. A task is batched at most once: every later call is direct.
"""

from __future__ import annotations

from routing.config.batch import BATCH_WINDOW_SECONDS, BatchSpec
from routing.config.kinds import BatchFailure
from workers.errors import BatchFailedError
from workers.execution.policy import Call, Fail, Step
from workers.execution.route_state import RouteState
from workers.providers.errors import ProviderError

# Set on the message that brings a batch's answer back to its task (the batch's id).
BATCH_HEADER = "llmr_batch"
# How long a claim on a batch lasts: a sweeper that dies holds it this long at most.
CLAIM_SECONDS = 600.0
# A batch the provider has not reported over this long after its submission is given up
# (its calls go direct, or fail, by their key's `on_failure`): the providers end every
# batch within their 24 hours, and half an hour more covers polling rounds and clocks.
# It is within a batched call's reservation (`BatchSpec.reservation_seconds`: the wait,
# the 24 hours and an hour more), so the call is settled before its reservation lapses.
POLL_DEADLINE_SECONDS = BATCH_WINDOW_SECONDS + 1800


def after_error(step: Step, state: RouteState, error: ProviderError,
                on_failure: BatchFailure) -> Step:
    """`step` is what a direct call's `error` leads to; with `on_failure: fail` a task whose
    batched request errored is not tried again."""
    if on_failure is BatchFailure.fail and not isinstance(step, Fail):
        return Fail(BatchFailedError(
            f"{state.model_key}: its request in a provider batch on {state.model} failed "
            f"({error}); the key's batch policy is on_failure: fail"))
    return step


def after_unprocessed(state: RouteState, kind: str, reason: str, on_failure: BatchFailure,
                      batch_id: str) -> Call | Fail:
    """The provider never answered the request (`kind`: expired, canceled, failed)."""
    what = f"provider batch {batch_id} {kind}" + (f" ({reason})" if reason else "")
    if on_failure is BatchFailure.fail:
        return Fail(BatchFailedError(
            f"{state.model_key}: the {what} before answering its request on {state.model}; "
            "the key's batch policy is on_failure: fail"))
    moved = state.after_call(0, failed=False)
    return Call(moved.hopped("direct", state, f"{what}: called directly"))


def on_failure_of(batch: BatchSpec | None) -> BatchFailure:
    """The policy of a key's current batch settings (`direct` once batching is off)."""
    return BatchFailure.direct if batch is None else batch.on_failure
