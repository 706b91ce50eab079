"""The worker's own Prometheus metrics (Faust's sensor adds its own beside them)."""

from prometheus_client import Counter, Gauge

EVENTS_IN = Counter("crmstream_events_in", "Messages read from an input topic", ["topic"])
EVENTS_OUT = Counter("crmstream_events_out", "Records published on an output topic", ["topic"])
DEAD_LETTERS = Counter(
    "crmstream_dead_letters", "Messages sent to the dead-letter topic", ["reason"]
)
DOCUMENTS_INDEXED = Counter(
    "crmstream_documents_indexed", "Documents Elasticsearch acknowledged", ["index_alias"]
)
MODEL_VERSION = Gauge("crmstream_model_version", "Version of the model in use", ["role", "model"])
MODEL_QUALITY = Gauge(
    "crmstream_model_quality",
    "Progressive validation over the rolling window (accuracy, macro_f1, mae)",
    ["model", "metric"],
)
MODEL_SNAPSHOTS = Counter("crmstream_model_snapshots", "Model snapshots published")
MODEL_SNAPSHOTS_REJECTED = Counter(
    "crmstream_model_snapshots_rejected", "Snapshots refused (tampered, corrupt, incomplete)"
)
TRAINING_UNJOINED = Counter(
    "crmstream_training_unjoined", "Labels or feedback whose communication was not known", ["type"]
)
MODEL_EVENTS = Counter("crmstream_model_events", "Drift and emerging-need events", ["kind"])
