"""Errors of the task layer. Each carries one message string (so that it survives JSON
serialization to a producer that does not import this project) that says what to do."""

from __future__ import annotations


class TaskError(Exception):
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
