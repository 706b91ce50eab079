"""The worker's own Prometheus metrics (Faust's sensor adds its own beside them)."""

from prometheus_client import Counter

EVENTS_IN = Counter("crmstream_events_in", "Messages read from an input topic", ["topic"])
EVENTS_OUT = Counter("crmstream_events_out", "Records published on an output topic", ["topic"])
DEAD_LETTERS = Counter(
    "crmstream_dead_letters", "Messages sent to the dead-letter topic", ["reason"]
)
DOCUMENTS_INDEXED = Counter(
    "crmstream_documents_indexed", "Documents Elasticsearch acknowledged", ["index_alias"]
)
