"""What the QoS and the outage settlement need of this package's kombu channel and QoS
(`transport.Channel`, `qos.QoS`: classes whose kombu bases carry no types)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import redis

from workers.broker.leases import LeaseOptions
from workers.broker.registry import Broker


class LeaseChannel(Protocol):
    broker: Broker
    lease: LeaseOptions
    unacked_lease_key: str
    unacked_restore_interval: float
    pause_before_record: float
    connection_errors: tuple[type[BaseException], ...]

    @property
    def state(self) -> Any:
        """kombu's broker state of the connection (declared exchanges)."""

    def detached(self) -> bool: ...

    def lease_client(self) -> redis.Redis: ...

    def conn_or_acquire(
        self, client: redis.Redis | None = None
    ) -> AbstractContextManager[redis.Redis]: ...


class LeaseQoS(Protocol):
    @property
    def lease_channel(self) -> LeaseChannel: ...

    def restore_by_tag(self, tag: str, client: redis.Redis | None = None,
                       leftmost: bool = False) -> None: ...
