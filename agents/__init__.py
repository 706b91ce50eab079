"""The Faust agents; importing this package registers them on :data:`streams.app.app`."""

from agents.alerts import count_active_alerts, evaluate_alerts, track_conversations
from agents.customers import track_customers
from agents.health import liveness, readiness, watch_consumer_lag
from agents.inputs import read_inputs
from agents.learner import follow_models, supervise_learner

__all__ = [
    "count_active_alerts",
    "evaluate_alerts",
    "follow_models",
    "liveness",
    "read_inputs",
    "readiness",
    "supervise_learner",
    "track_conversations",
    "track_customers",
    "watch_consumer_lag",
]
