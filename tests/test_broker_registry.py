"""What a worker process holds through a lost connection (workers/broker/registry.py)."""

from __future__ import annotations

from workers.broker.leases import LeaseKeys
from workers.broker.registry import Broker, Held, Registry

BROKER = Broker("127.0.0.1:1/0", LeaseKeys("u", "i", "l", "c"))


def test_a_live_delivery_becomes_an_orphan_of_its_epoch_and_stays_renewed() -> None:
    registry = Registry()
    registry.delivered(BROKER, "t1", "epoch-1")
    registry.delivered(BROKER, "t2", "epoch-1")
    # When the connection is lost with both unacknowledged
    registry.orphan(BROKER, "t1", '["m1"]', "llm.haiku", None)
    # Then t1 is an orphan of the Redis it was recorded in; both are still renewed
    [orphan] = registry.orphans(BROKER)
    assert (orphan.tag, orphan.state, orphan.epoch) == ("t1", Held.OWNED, "epoch-1")
    assert sorted(registry.renewable(BROKER)) == ["t1", "t2"]


def test_an_acknowledgement_while_redis_is_away_is_kept_and_no_longer_renewed() -> None:
    registry = Registry()
    registry.delivered(BROKER, "live", "e")
    registry.delivered(BROKER, "orphaned", "e")
    registry.orphan(BROKER, "orphaned", '["m"]', "llm.haiku", None)
    registry.acked(BROKER, "live")
    registry.acked(BROKER, "orphaned")
    assert {(o.tag, o.state) for o in registry.orphans(BROKER)} == {
        ("live", Held.ACKED), ("orphaned", Held.ACKED)}
    assert registry.renewable(BROKER) == []


def test_an_acknowledgement_of_a_delivery_no_longer_held_here_is_ignored() -> None:
    # e.g. put back at a shutdown: the tag may be another worker's delivery by now
    registry = Registry()
    registry.acked(BROKER, "put-back")
    assert registry.orphans(BROKER) == []


def test_a_rejection_to_requeue_keeps_the_message_to_put_back() -> None:
    registry = Registry()
    registry.delivered(BROKER, "t", "e")
    registry.orphan(BROKER, "t", '["m"]', "llm.haiku", None)
    registry.requeue(BROKER, "t", None, "")
    # A delivery whose append never reached Redis: put back from memory, epoch unknown
    registry.requeue(BROKER, "popped", '["p"]', "llm.haiku", recorded=False)
    states = {o.tag: (o.state, o.payload, o.epoch) for o in registry.orphans(BROKER)}
    assert states == {"t": (Held.REQUEUE, '["m"]', "e"),
                      "popped": (Held.REQUEUE, '["p"]', None)}


def test_an_orphan_knows_whether_its_task_is_still_in_the_process() -> None:
    class Request:
        pass

    registry = Registry()
    request = Request()
    registry.delivered(BROKER, "t", "e")
    registry.orphan(BROKER, "t", '["m"]', "llm.haiku", request)
    [orphan] = registry.orphans(BROKER)
    assert orphan.task_alive()
    del request
    assert not orphan.task_alive()
