"""Errors raised while managing the local servers."""

from crmstream.errors import CrmstreamError


class InfraError(CrmstreamError, RuntimeError):
    """A local server could not be fetched, started, checked or stopped."""
