"""Errors of reading a provider's usage and cost reports: each says what to do."""

from __future__ import annotations


class ReportError(Exception):
    """Root: a provider's report could not be read (messages never hold a key)."""


class MissingAdminKeyError(ReportError):
    """The provider's admin key is not set."""

    def __init__(self, provider: str, variable: str) -> None:
        super().__init__(
            f"reconciling {provider} needs its admin key: set {variable} (an admin key of "
            f"the organization; it is read from the environment only, never stored)")
        self.provider = provider
        self.variable = variable


class ReportFailedError(ReportError):
    """The provider answered with an error, or could not be reached."""


class EndlessPagesError(ReportError):
    """The report kept paging past the limit, or returned a cursor it had returned before."""
