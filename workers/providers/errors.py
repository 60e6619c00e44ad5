"""Provider errors, classified so the task layer knows what to do with each.

- `RateLimitedError`: wait `retry_after` seconds (from the provider), then retry; every
  worker holds off that model meanwhile.
- `OverloadedError` (529) and `TransientError` (5xx, timeouts, connection errors): back
  off exponentially, then move to the next fallback model.
- `PermanentError` (400, 401, 403, 404, context too long): fail at once, no retry.
- `MissingKeyError`: the provider's API key is not set; names the variable to set.
"""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """Root of every provider error. Messages never contain an API key."""


    def __init__(self, message: str, *, provider: str = "", status: int | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.request_id = request_id

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle by state, not by constructor arguments (subclasses have other signatures).
        return _rebuild, (type(self), str(self), dict(self.__dict__))


def _rebuild(cls: type[ProviderError], message: str, state: dict[str, Any]) -> ProviderError:
    error = Exception.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class RateLimitedError(ProviderError):
    """429: the provider asked us to slow down; `retry_after` is in seconds (or None)."""


    def __init__(self, message: str, *, retry_after: float | None = None, provider: str = "",
                 status: int | None = None, request_id: str | None = None) -> None:
        super().__init__(message, provider=provider, status=status, request_id=request_id)
        self.retry_after = retry_after


class OverloadedError(ProviderError):
    """529 (Anthropic) or 503 overloaded: the provider is saturated."""



class TransientError(ProviderError):
    """5xx, timeout or connection failure: worth retrying later or elsewhere."""



class PermanentError(ProviderError):
    """400/401/403/404 or a context-length error: retrying cannot help."""


class MissingKeyError(PermanentError):
    """A model's provider has no API key configured."""

    def __init__(self, provider: str, variable: str) -> None:
        super().__init__(
            f"provider '{provider}' has no API key: set the environment variable {variable} "
            "(or LLM_ROUTER_PROVIDER_MODE=simulated to run offline)",
            provider=provider,
        )
        self.variable = variable
