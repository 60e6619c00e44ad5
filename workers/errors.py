"""Errors of the task layer. Each carries one message string (so that it survives JSON
serialization to a producer that does not import this project) that says what to do."""

from __future__ import annotations


class WorkerError(Exception):
    """Root of the errors of the workers package."""


class BrokerURLError(WorkerError, ValueError):
    """No broker or result backend URL can be derived (the routing Redis is a Cluster or
    Sentinel URL, which Celery cannot use): it names what to set."""


class SettingsError(WorkerError, ValueError):
    """An environment variable of the settings has a value they refuse (`get_settings`).

    The message is one line: for each refused variable its name, the reason and the fix
    (separated by '; '); `variables` lists the variables named."""

    def __init__(self, problems: list[str], variables: list[str]) -> None:
        self.variables = variables
        super().__init__("; ".join(problems))


class MissingKeysError(WorkerError):
    """A worker's tier has models whose provider has no API key (live mode): it refuses to
    start rather than fall back, call after call, to other tiers."""

    def __init__(self, missing: dict[str, str], tiers: list[str]) -> None:
        self.missing = missing  # model -> the environment variable to set
        needed = sorted(set(missing.values()))
        super().__init__(
            f"tier(s) {', '.join(tiers)}: no API key for "
            + ", ".join(f"{m} (set {v})" for m, v in sorted(missing.items()))
            + f"; set {' and '.join(needed)} for this worker, or run it with "
            "LLM_ROUTER_PROVIDER_MODE=simulated"
        )


class HeaderKeysMissingError(WorkerError):
    """A live-mode worker without LLM_ROUTER_HEADER_KEYS: it could not tell the route
    headers its own fleet sealed from forged ones, so it refuses to start."""

    def __init__(self) -> None:
        super().__init__(
            "LLM_ROUTER_HEADER_KEYS is not set: a live worker needs the key that seals route "
            "headers (the same on every worker and producer); make one with `python -c "
            "'import secrets; print(secrets.token_urlsafe(32))'`, or run with "
            "LLM_ROUTER_PROVIDER_MODE=simulated")


class TaskError(WorkerError):
    """Root of the errors a task fails with (after which nothing is retried)."""


class TaskInputError(TaskError, ValueError):
    """The task's input is invalid; the message names the field and the fix."""


class OutputInvalidError(TaskError):
    """The model's output failed validation (a task fails with it when no escalation is
    left; before that, execution escalates)."""


class AllModelsFailedError(TaskError):
    """The model and every fallback failed with retryable errors."""


class ProviderRefusedError(TaskError):
    """The provider refused the request permanently (400/401/403/404, context too long)."""


class BudgetRejectedError(TaskError):
    """A budget with policy `reject` had no room for this call."""


class BatchFailedError(TaskError):
    """The task's provider batch failed or expired, or its request in it errored, and its
    model key's batch policy is `on_failure: fail` (with `direct` it is called directly)."""


class RunBudgetExceeded(TaskError):
    """The task's run (`run_id`) reached its cap (max USD, max calls) or was stopped: the
    call was refused, nothing charged, and so is every later call of the run."""


class ReplayPendingError(WorkerError):
    """A replay's provider batch is not over yet: its task polls again later."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"replay batch {batch_id} still running")
