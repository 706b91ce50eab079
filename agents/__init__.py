"""The Faust agents; importing this package registers them on :data:`streams.app.app`."""

from agents.alerts import count_active_alerts, evaluate_alerts, track_conversations
from agents.communications import score_communications
from agents.customers import track_customers
from agents.feedback import check_feedback, check_labels
from agents.health import liveness, readiness, watch_consumer_lag
from agents.learner import follow_models, supervise_learner

__all__ = [
    "check_feedback",
    "check_labels",
    "count_active_alerts",
    "evaluate_alerts",
    "follow_models",
    "liveness",
    "readiness",
    "score_communications",
    "supervise_learner",
    "track_conversations",
    "track_customers",
    "watch_consumer_lag",
]
