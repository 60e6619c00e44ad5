"""Beat's scheduler: celery-redbeat on the routing Redis, reached as every other part of
llm-router reaches it (`routing.connect`: one server, a Redis Cluster or Sentinel).

redbeat keeps each cron's last run and a lock in Redis (keys under the namespace's hash
tag: `workers.celery_config.beat_config`); any number of Beats may run, the one holding
the lock sends. redbeat opens its own client from a plain `redis://` URL; this scheduler
gives it one from `LLM_ROUTER_REDIS_URL` instead, so that a `redis+cluster://` or
`redis+sentinel://` URL works too. Commands are retried for `redbeat_redis_options`'
`retry_period` (the lock's timeout), so a short Redis outage does not stop Beat.
"""

from __future__ import annotations

from typing import Any

from redbeat.schedulers import REDBEAT_REDIS_KEY, RedBeatScheduler, RetryingConnection

from routing.connect import connect
from routing.redis_url import redact_url


class Scheduler(RedBeatScheduler):  # type: ignore[misc]
    def __init__(self, app: Any, **kwargs: Any) -> None:
        if getattr(app, REDBEAT_REDIS_KEY, None) is None:
            conf = app.conf
            client = connect(conf.redbeat_redis_url, decode_responses=True)
            retry = (conf.redbeat_redis_options or {}).get("retry_period")
            setattr(app, REDBEAT_REDIS_KEY,
                    client if retry is None else RetryingConnection(retry, client))
        super().__init__(app, **kwargs)

    @property
    def info(self) -> str:
        """The banner's lines (redbeat's own cannot show a URL of several hosts)."""
        lines = [f"       . redis -> {redact_url(self.app.redbeat_conf.redis_url)}"]
        if self.lock_key:
            lines.append(f"       . lock -> `{self.lock_key}` ({self.lock_timeout}s)")
        return "\n".join(lines)
