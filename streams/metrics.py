"""The worker's own Prometheus metrics (Faust's sensor adds its own beside them).

Label values are bounded: topics, reasons, rules, severities, channels and
feedback kinds, never customer or agent ids (those live in ``crm.alerts``).
``config/prometheus/rules/crmstream.yml`` builds its recording and alert rules
on these names.
"""

from prometheus_client import Counter, Gauge, Histogram

# A tenth of the satisfaction scale per bucket: enough for means and shares below X.
SATISFACTION_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
# From a quick batch to an outage-long backlog.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

EVENTS_IN = Counter("crmstream_events_in", "Messages read from an input topic", ["topic"])
EVENTS_OUT = Counter("crmstream_events_out", "Records published on an output topic", ["topic"])
DEAD_LETTERS = Counter(
    "crmstream_dead_letters", "Messages sent to the dead-letter topic", ["reason"]
)
DOCUMENTS_INDEXED = Counter(
    "crmstream_documents_indexed", "Documents Elasticsearch acknowledged", ["index_alias"]
)
PROCESSING_SECONDS = Histogram(
    "crmstream_processing_seconds",
    "Time one batch spent in an agent, from taken to delivered",
    ["agent"],
    buckets=LATENCY_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "crmstream_end_to_end_seconds",
    "From the input message's Kafka timestamp to its record being indexed and published",
    ["topic"],
    buckets=LATENCY_BUCKETS,
)
TABLE_KEYS = Gauge(
    "crmstream_table_keys",
    "Keys this worker holds in a table (alert-state, conversations)",
    ["table"],
)
TABLE_KEYS_EXPIRED = Counter(
    "crmstream_table_keys_expired",
    "Keys dropped from a table after going silent (alert-state) or waiting too long "
    "for a reply (conversations: unanswered inbound turns)",
    ["table"],
)
INPUT_PAUSED_SECONDS = Counter(
    "crmstream_input_paused_seconds",
    "Seconds the input reader waited for the internal topics' backlog (streams.backlog)",
)
CONSUMER_LAG = Gauge(
    "crmstream_consumer_lag",
    "Messages on this worker's assigned partitions not yet processed",
    ["topic", "partition"],
)
ELASTICSEARCH_BULK_SECONDS = Histogram(
    "crmstream_elasticsearch_bulk_seconds",
    "Duration of one bulk call to Elasticsearch (one attempt)",
    buckets=LATENCY_BUCKETS,
)
ELASTICSEARCH_BULK_ERRORS = Counter(
    "crmstream_elasticsearch_bulk_errors",
    "Documents Elasticsearch rejected (rejected) or bulk attempts that failed and are retried",
    ["kind"],
)
PREDICTED_SATISFACTION = Histogram(
    "crmstream_predicted_satisfaction",
    "Satisfaction the model predicted for an inbound communication (0 worst, 1 best)",
    ["channel"],
    buckets=SATISFACTION_BUCKETS,
)
RATED_SATISFACTION = Histogram(
    "crmstream_rated_satisfaction",
    "A customer's rating, mapped to 0 (worst) .. 1 (best)",
    ["kind"],
    buckets=SATISFACTION_BUCKETS,
)
ALERTS_FIRED = Counter(
    "crmstream_alerts_fired", "Stream alerts that started firing", ["rule", "severity"]
)
ALERTS_RESOLVED = Counter(
    "crmstream_alerts_resolved", "Stream alerts whose condition cleared", ["rule", "severity"]
)
ALERTS_ACTIVE = Gauge(
    "crmstream_alerts_active",
    "Stream alerts firing now, on this worker's partitions",
    ["rule", "severity"],
)
ALERT_DELTAS_LATE = Counter(
    "crmstream_alert_deltas_late", "Aggregates that arrived after their window had closed"
)
MODEL_VERSION = Gauge("crmstream_model_version", "Version of the model in use", ["role", "model"])
MODEL_QUALITY = Gauge(
    "crmstream_model_quality",
    "Progressive validation over the rolling window (accuracy, macro_f1, mae)",
    ["model", "metric"],
)
TRAINING_LEARNED = Counter(
    "crmstream_training_learned", "Training examples the learner learned (re-learned included)"
)
LEARNER_POSITION = Gauge(
    "crmstream_learner_position",
    "Next offset of the training topic the learner will learn (everything before it is learned)",
)
MODEL_SNAPSHOTS = Counter("crmstream_model_snapshots", "Model snapshots published")
MODEL_SNAPSHOTS_REJECTED = Counter(
    "crmstream_model_snapshots_rejected", "Snapshots refused (tampered, corrupt, incomplete)"
)
TRAINING_UNJOINED = Counter(
    "crmstream_training_unjoined", "Labels or feedback whose communication was not known", ["type"]
)
MODEL_EVENTS = Counter("crmstream_model_events", "Drift and emerging-need events", ["kind"])
