"""The Faust agents; importing this package registers them on :data:`streams.app.app`."""

from agents.communications import score_communications

__all__ = ["score_communications"]
