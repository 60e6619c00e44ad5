"""Sizing on paper (`routing.planning.plan`) on known numbers, worked out in the comments.

Little's law: busy slots = calls per second x seconds per call; slots = ceil(busy / u);
replicas = ceil(slots / concurrency). Shipped profiles: Haiku 32 threads, Sonnet 8,
Opus 2, Kimi 4. Shipped prices per MTok (input / output): Haiku 1 / 5, Sonnet 4.6
3 / 15, Opus 5 / 25, Kimi 0.30 / 1.50; a price per MTok is micro-dollars per token.
"""

from __future__ import annotations

import pytest

from routing.config.defaults import default_config
from routing.errors import PlanInputError, UnknownModelKeyError
from routing.planning import input as plan_input
from routing.planning.plan import DEFAULTS, MIN_SAMPLES, KeyPlan, Plan, TierPlan, measure, plan
from routing.spend.aggregates import AggregateRow
from routing.spend.latency import bucket

CFG = default_config()


def key(result: Plan, name: str) -> KeyPlan:
    return next(k for k in result.keys if k.model_key == name)


def tier(result: Plan, name: str) -> TierPlan:
    return next(t for t in result.tiers if t.tier == name)


def haiku_row(calls: int, latency_ms: int, *, day_share: int = 1) -> AggregateRow:
    """`calls` lookup calls on Haiku, each `latency_ms` long, 1,000 in / 200 out tokens."""
    row = AggregateRow("lookup", "claude-haiku-4-5", "haiku", calls=calls, successes=calls,
                       input_tokens=1000 * calls, output_tokens=200 * calls,
                       micros=1600 * calls, latency_ms=latency_ms * calls)
    row.latency[bucket(latency_ms)] = calls
    return row


def test_the_example_fleet_on_the_tier_defaults() -> None:
    # 1M lookups (Haiku), 50k code generations (Sonnet), 2k strategic decisions (Opus)
    result = plan(CFG, {"lookup": 1_000_000, "code_generation": 50_000,
                        "strategic_decision": 2_000})
    haiku, sonnet, opus, kimi = (tier(result, t) for t in ("haiku", "sonnet", "opus", "kimi"))
    # Haiku: 1,000,000 / 86,400 = 11.574/s x 3 s = 34.72 busy; / 0.7 = 49.6 -> 50 slots;
    # 50 / 32 -> 2 replicas. A call: 1,500 x 1 + 300 x 5 = 3,000 micro-dollars.
    assert (haiku.busy_slots, haiku.slots, haiku.replicas) == (34.722, 50, 2)
    assert haiku.cost_per_day_micros == 3_000 * 1_000_000
    # Sonnet: 0.5787/s x 15 s = 8.68 busy; / 0.7 = 12.4 -> 13 slots; 13 / 8 -> 2 replicas.
    # A call: 3,000 x 3 + 1,000 x 15 = 24,000 micro-dollars.
    assert (sonnet.busy_slots, sonnet.slots, sonnet.replicas) == (8.681, 13, 2)
    assert sonnet.cost_per_day_micros == 24_000 * 50_000
    # Opus: 0.02315/s x 30 s = 0.694 busy; / 0.7 = 0.99 -> 1 slot, 1 replica.
    # A call: 4,000 x 5 + 1,500 x 25 = 57,500 micro-dollars.
    assert (opus.busy_slots, opus.slots, opus.replicas) == (0.694, 1, 1)
    assert opus.cost_per_day_micros == 57_500 * 2_000
    assert (kimi.calls_per_day, kimi.slots, kimi.replicas, kimi.cost_per_day_micros) == (
        0, 0, 0, 0)
    assert all(k.latency_source == "default" and k.tokens_source == "default"
               for k in result.keys)
    total = result.as_dict()["total"]
    assert total == {"calls_per_day": 1_052_000, "slots": 64, "replicas": 5,
                     "cost_per_day_micros": 4_315_000_000, "cost_per_day_usd": 4315.0,
                     "cost_per_30_days_usd": 129_450.0}


def test_littles_law_on_round_numbers_and_no_float_ceiling_error() -> None:
    # 864,000 calls a day = 10/s; x 1.4 s = 14 busy slots; / 0.7 = exactly 20 slots
    # (14 / 0.7 is 20.000000000000004 in floats: still 20), 20 / 32 -> 1 replica
    result = plan(CFG, {"lookup": 864_000}, latencies={"lookup": 1.4})
    haiku = tier(result, "haiku")
    assert (key(result, "lookup").rate_per_second, haiku.busy_slots) == (10.0, 14.0)
    assert (haiku.slots, haiku.replicas) == (20, 1)
    # the same load at full utilization: 14 slots; at 0.5: 28 slots
    assert tier(plan(CFG, {"lookup": 864_000}, latencies={"lookup": 1.4},
                     utilization=1.0), "haiku").slots == 14
    assert tier(plan(CFG, {"lookup": 864_000}, latencies={"lookup": 1.4},
                     utilization=0.5), "haiku").slots == 28


def test_keys_of_one_tier_add_up_and_replicas_follow_the_concurrency() -> None:
    # Sonnet: 86,400 drafting calls at 10 s (10 busy) + 172,800 code reviews at 5 s (10
    # busy) = 20 busy; / 0.8 = 25 slots; / 8 threads -> 4 replicas
    result = plan(CFG, {"drafting": 86_400, "code_review": 172_800}, utilization=0.8,
                  latencies={"drafting": 10, "code_review": 5})
    sonnet = tier(result, "sonnet")
    assert sonnet.model_keys == ("code_review", "drafting")
    assert (sonnet.calls_per_day, sonnet.busy_slots, sonnet.slots, sonnet.replicas) == (
        259_200, 20.0, 25, 4)
    assert sonnet.configured_replicas == CFG.tiers["sonnet"].replicas


def test_given_tokens_are_priced_and_a_large_input_follows_the_routing_rule() -> None:
    # 1,000 classifications of 1,000 in / 200 out on Haiku: 1,000 + 1,000 = 2,000 a call
    small = plan(CFG, {"classification": 1_000}, tokens={"classification": (1000, 200)})
    assert key(small, "classification").cost_per_day_micros == 2_000_000
    assert key(small, "classification").tokens_source == "given"
    # 60,000 input tokens of code review: the 50,000-token rule routes it to Kimi, so its
    # slots are Kimi's: 60,000 x 0.30 + 2,000 x 1.50 = 21,000 micro-dollars a call
    large = plan(CFG, {"code_review": 100}, tokens={"code_review": (60_000, 2_000)})
    review = key(large, "code_review")
    assert (review.model, review.tier) == ("kimi-for-coding", "kimi")
    assert review.cost_per_day_micros == 2_100_000
    assert review.latency_seconds == DEFAULTS["kimi"].latency_seconds
    assert tier(large, "kimi").slots == 1 and tier(large, "sonnet").slots == 0


def test_a_batched_key_holds_no_slot_and_is_priced_at_the_batch_rate() -> None:
    # content_curation is batched on Haiku (batch_discount 0.5): 86,400 calls of the Haiku
    # default (1,500 in / 300 out: 3,000 micro-dollars direct) cost 1,500 each, and hold
    # no slot while the provider works (latency 0 whatever is given), so beside 86,400
    # lookups at 3 s (3 busy slots) the tier still needs 3 / 0.7 -> 5 slots
    result = plan(CFG, {"content_curation": 86_400, "lookup": 86_400},
                  latencies={"content_curation": 3.0})
    curation = key(result, "content_curation")
    assert curation.batched and not key(result, "lookup").batched
    assert (curation.latency_seconds, curation.latency_source, curation.busy_slots) == (
        0.0, "batched", 0.0)
    assert curation.cost_per_day_micros == 1_500 * 86_400
    haiku = tier(result, "haiku")
    assert (haiku.busy_slots, haiku.slots) == (3.0, 5)
    # monitoring, on the same model but not batched, is a direct call at the full price
    direct = key(plan(CFG, {"monitoring": 86_400}), "monitoring")
    assert not direct.batched and direct.cost_per_day_micros == 3_000 * 86_400


def test_measured_latency_and_tokens_from_the_day_aggregates() -> None:
    # 40 lookups over two days, 1,500 ms each (histogram bucket 1,000-1,500 ms)
    rows = [haiku_row(25, 1500), haiku_row(15, 1500)]
    measured = measure(rows)
    seen = measured[("lookup", "claude-haiku-4-5")]
    # mean: 60,000 ms / 40 = 1.5 s; p95: rank 38 of 40 in the bucket -> 1,000 + 500 x 38/40
    assert (seen.calls, seen.timed_calls, seen.mean_seconds) == (40, 40, 1.5)
    assert seen.p95_seconds == pytest.approx(1.475)
    result = plan(CFG, {"lookup": 86_400}, measured=measured, days=2)
    lookup = key(result, "lookup")
    assert (lookup.latency_seconds, lookup.latency_source) == (1.5, "measured mean (n=40, 2d)")
    assert (lookup.input_tokens, lookup.output_tokens) == (1000, 200)
    assert lookup.tokens_source == "measured (n=40, 2d)"
    # 1/s x 1.5 s = 1.5 busy; / 0.7 = 2.14 -> 3 slots. 2,000 micro-dollars a call.
    assert (tier(result, "haiku").slots, lookup.cost_per_day_micros) == (3, 2_000 * 86_400)
    p95 = key(plan(CFG, {"lookup": 86_400}, measured=measured, latency_stat="p95"), "lookup")
    assert (p95.latency_seconds, p95.latency_source) == (1.475, "measured p95 (n=40, 7d)")


def test_what_is_given_wins_and_too_few_calls_are_not_a_measurement() -> None:
    measured = measure([haiku_row(40, 1500)])
    given = key(plan(CFG, {"lookup": 10}, measured=measured, latencies={"lookup": 0.5},
                     tokens={"lookup": (10, 10)}), "lookup")
    assert (given.latency_seconds, given.latency_source, given.tokens_source) == (
        0.5, "given", "given")
    few = measure([haiku_row(MIN_SAMPLES - 1, 1500)])
    default = key(plan(CFG, {"lookup": 10}, measured=few), "lookup")
    assert (default.latency_seconds, default.latency_source) == (
        DEFAULTS["haiku"].latency_seconds, "default")
    assert default.tokens_source == "default"
    # calls of the key on another model (a fallback) say nothing about its routed model
    other = AggregateRow("lookup", "gemini-2.5-pro", "sonnet", calls=100, latency_ms=100_000)
    other.latency[bucket(1000)] = 100
    assert key(plan(CFG, {"lookup": 10}, measured=measure([other])),
               "lookup").latency_source == "default"


def test_the_plan_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(UnknownModelKeyError):
        plan(CFG, {"no_such_key": 1})
    with pytest.raises(ValueError, match="utilization"):
        plan(CFG, {"lookup": 1}, utilization=0)
    with pytest.raises(ValueError, match="negative"):
        plan(CFG, {"lookup": -1})


@pytest.mark.parametrize(("values", "flag", "says"), [
    (["lookup"], "--calls-per-day", "expected MODEL_KEY=N"),
    (["=5"], "--calls-per-day", "expected MODEL_KEY=N"),
    (["nope=5"], "--calls-per-day", "unknown model key 'nope'"),
    (["lookup=-5"], "--calls-per-day", "cannot be negative"),
    (["lookup=1.5"], "--calls-per-day", "not a whole number"),
    (["lookup=5", "lookup=6"], "--calls-per-day", "given twice"),
    ([], "--calls-per-day", "at least one"),
])
def test_calls_per_day_input_is_refused_by_name(values: list[str], flag: str, says: str) -> None:
    with pytest.raises(PlanInputError, match=says) as err:
        plan_input.calls_per_day(CFG, values)
    assert err.value.flag == flag and str(err.value).startswith(flag)


def test_counts_may_be_written_with_separators() -> None:
    assert plan_input.calls_per_day(CFG, ["lookup=1_000_000", "drafting=50,000"]) == {
        "lookup": 1_000_000, "drafting": 50_000}


@pytest.mark.parametrize(("parse", "value", "says"), [
    ("latencies", "lookup=0", "positive"),
    ("latencies", "lookup=-1", "positive"),
    ("latencies", "lookup=fast", "not a number of seconds"),
    ("latencies", "lookup=nan", "positive"),
    ("latencies", "drafting=2", "drafting has no --calls-per-day"),
    ("tokens", "lookup=100", "separated by '/'"),
    ("tokens", "lookup=100/-1", "cannot be negative"),
    ("tokens", "lookup=a/b", "not a whole number"),
])
def test_latency_and_token_input_is_refused_by_name(parse: str, value: str, says: str) -> None:
    with pytest.raises(PlanInputError, match=says):
        getattr(plan_input, parse)(CFG, [value], ["lookup"])


def test_latency_and_token_input_accepted() -> None:
    assert plan_input.latencies(CFG, ["lookup=1.5s"], ["lookup"]) == {"lookup": 1.5}
    assert plan_input.tokens(CFG, ["lookup=1500/300"], ["lookup"]) == {"lookup": (1500, 300)}
    with pytest.raises(PlanInputError, match="--utilization"):
        plan_input.utilization(1.5)
