"""Errors raised while managing the local servers."""


class InfraError(RuntimeError):
    """A local server could not be fetched, started, checked or stopped."""
