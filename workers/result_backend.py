"""Celery's Redis result backend, storing a task state in one round trip instead of two.

Before every write (STARTED, then SUCCESS or FAILURE) Celery reads the task's stored meta,
so that a lost worker's late write never overwrites a SUCCESS; then it writes and
publishes the new meta. Here one Lua script does the three: read, compare, write and
publish, atomically. Keys, values, expiries and the pub/sub message are Celery's own, so
any Celery client (a foreign producer's `AsyncResult.get()`) reads these results.

Used for `redis://`/`rediss://` result backends (`workers.celery_config`); the offline
demo's in-memory backend is Celery's.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from celery import states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str

# KEYS: the task's meta key. ARGV: the new meta (JSON), expiry seconds ('0': none).
# Returns 0 when a SUCCESS was stored already (nothing written), 1 when written.
_STORE = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' and meta['status'] == 'SUCCESS' then return 0 end
end
if ARGV[2] ~= '0' then
  redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
"""

BACKEND = "workers.result_backend:ResultBackend"
# celery-types leaves most of the backend's attributes out: subclass it as `Any`.
_RedisBackend: Any = RedisBackend


class ResultBackend(_RedisBackend):  # type: ignore[misc]
    """`RedisBackend` whose state writes are one EVALSHA (see the module docstring)."""

    def _store_result(self, task_id: str, result: Any, state: str, traceback: Any = None,
                      request: Any = None, **kwargs: Any) -> Any:
        meta = self._get_result_meta(result=result, state=state, traceback=traceback,
                                     request=request)
        meta["task_id"] = bytes_to_str(task_id)
        value = self.encode(meta)
        if isinstance(value, str) and len(value) > self._MAX_STR_VALUE_SIZE:
            # (celery-types lags behind this exception's keyword arguments)
            raise BackendStoreError(  # type: ignore[call-arg]
                "value too large for Redis backend", state=state, task_id=task_id)
        expires = self.failure_expires if state == states.FAILURE else self.expires
        key = self.get_key_for_task(task_id)
        self.ensure(self._store_once, (key, value, int(expires or 0)))
        return result

    @cached_property
    def _store_script(self) -> Any:
        return self.client.register_script(_STORE)

    def _store_once(self, key: Any, value: Any, expires: int) -> None:
        self._store_script(keys=[key], args=[value, expires])


def backend_url(url: str) -> str:
    """The `result_backend` setting for `url`: this backend for Redis, else `url` as is."""
    scheme = url.partition("://")[0].lower()
    return f"{BACKEND}+{url}" if scheme in ("redis", "rediss") else url
