"""The Faust agents; importing this package registers them on :data:`streams.app.app`."""

from agents.communications import score_communications
from agents.feedback import check_feedback, check_labels
from agents.learner import follow_models, learn

__all__ = ["check_feedback", "check_labels", "follow_models", "learn", "score_communications"]
