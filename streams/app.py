"""The Faust application: one object, configured from the settings, and its topics.

The agents in :mod:`agents` attach to ``app``; ``crmstream worker`` runs it.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.sensors.prometheus import PrometheusMonitor, setup_prometheus_sensors
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import ConsumerT, TableT
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from config.settings import get_settings
from streams import topics
from streams.alert_config import load_rules
from streams.alert_engine import AlertEngine
from streams.internals import (
    prometheus_metrics,
    set_fetch_max_wait_ms,
    set_producer_buffer_limit,
)
from streams.kafka import broker_url, faust_credentials
from streams.model_sync import LiveModel
from streams.offsets import DeliveredOffsetsConsumer, SteadyFlowControl
from streams.pipeline import Edge, EdgeConfig

settings = get_settings()


class PromptFetchConsumerThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, with a broker-side fetch wait of
    ``settings.kafka_fetch_max_wait_ms`` instead of Faust's fixed 1.5 s.

    aiokafka keeps one fetch request in flight per broker, and leaves out of it the
    partitions whose fetched records the worker has not taken yet. While an agent is
    busy with a batch, that request holds only the quiet topics, so the broker keeps
    it for the whole wait, and no fetch for the busy ones can start before it returns.
    The wait bounds that stall; an idle worker costs the broker a few empty fetches a
    second instead. (When Faust still read the input topics, this with the batch
    timing of :mod:`streams.batches` took the bench's p99 at half load from 3.6–7.3 s
    to 1.9–2.3 s.) The input reader (:mod:`streams.inputs`) uses the same wait.
    """

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by aiokafka when the consumer starts (it builds its fetcher then); Faust
        # passes no setting for it.
        set_fetch_max_wait_ms(consumer, settings.kafka_fetch_max_wait_ms)
        return consumer


class Consumer(DeliveredOffsetsConsumer):
    """The worker's consumer: delivered offsets only, prompt fetches."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return PromptFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)


class App(faust.App):
    """Faust's app, committing an input offset only once its batch is delivered
    (:mod:`streams.offsets`), fetching promptly (:class:`PromptFetchConsumerThread`),
    keeping what its stream queues hold while the flow runs (:class:`SteadyFlowControl`)."""

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return SteadyFlowControl(loop=self.loop)

    def _new_consumer(self) -> ConsumerT:
        return Consumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.transport.loop,
        )


app = App(
    settings.app_id,
    broker=broker_url(settings),
    broker_credentials=faust_credentials(settings),
    # Our topics are created with their own partitions and retention (streams.topics);
    # Faust must neither declare them nor create its leader topic.
    topic_allow_declare=False,
    topic_disable_leader=True,
    topic_partitions=settings.topic_partitions,
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=settings.kafka_session_timeout_s,
    broker_heartbeat_interval=settings.kafka_session_timeout_s / 4,
    value_serializer="raw",
    key_serializer="raw",
    web_bind=settings.worker_web_host,
    web_host=settings.worker_web_host,
    web_port=settings.worker_web_port,
    # One directory per worker instance (the web port tells local workers apart):
    # RocksDB locks its files, and lost local state is rebuilt from the changelogs.
    datadir=str(settings.state_dir / "worker" / f"{settings.app_id}-{settings.worker_web_port}"),
    # RocksDB (rocksdict) within one memory budget (streams.state); tables recover
    # from their changelog topics.
    store="crmstream://",
    # One message may carry a long email thread; the broker's default limit is ~1 MB.
    producer_max_request_size=1_048_576,
)


class PerBatchPrometheusMonitor(PrometheusMonitor):
    """Faust's Prometheus sensor without its per-message hooks.

    Faust calls its sensor four or five times for every message (in, stream in, stream
    out, out, end offset), each a few label look-ups and locked increments: about 5 % of
    the worker's CPU under load. crmstream counts messages per batch instead
    (``crmstream_events_in_total``, ``crmstream_consumer_lag``, the latency
    histograms); rebalances, commits, send errors and web requests are still reported
    by Faust as ``crmstream_faust_*``.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def track_tp_end_offset(self, tp: Any, offset: int) -> None:
        return None

    # Per table key and per record sent (a scored record and about three changelog
    # records per event): about 2 % of the worker's CPU. crmstream_table_keys and
    # crmstream_events_out_total count the same per batch; send errors stay reported.
    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None


setup_prometheus_sensors(app, name_prefix="crmstream_faust")
# The same metrics and /metrics page, without the per-message work.
faust_monitor = app.monitor
assert isinstance(faust_monitor, PrometheusMonitor)
app.monitor = PerBatchPrometheusMonitor(metrics=prometheus_metrics(faust_monitor))

# The input topics (communications, feedback, labels) are read without Faust:
# streams.inputs. These are the topics Faust's agents read.
training_topic = app.topic(settings.topic_name(topics.TRAINING))
alert_aggregates_topic = app.topic(settings.topic_name(topics.ALERT_AGGREGATES))
conversation_turns_topic = app.topic(settings.topic_name(topics.CONVERSATION_TURNS))
customer_contacts_topic = app.topic(settings.topic_name(topics.CUSTOMER_CONTACTS))


def _table(name: str, changelog: str, description: str) -> TableT[str, Any]:
    """A RocksDB-backed table whose changelog is one of our own (pre-created) topics."""
    return app.Table(
        name,
        default=None,
        partitions=settings.topic_partitions,
        # acks=False as Faust's own changelogs: no stream reads them, so the consumer
        # must not expect one to (it logs "Stream has not started processing" otherwise).
        changelog_topic=app.topic(settings.topic_name(changelog), acks=False),
        help=description,
        # One RocksDB per table and partition, all within settings.table_memory_mb.
        options={"write_buffer_size": 4 * 1024**2, "max_write_buffer_number": 2},
    )


# Keyed like the aggregates topic ("agent:a17"): windows, baselines and alert episodes.
alert_state = _table("alert-state", topics.ALERT_STATE_CHANGELOG, "Alert windows per key")
# Only the alerts firing now ("rule|agent:a17" -> severity): small, read by the gauge.
active_alerts = _table("active-alerts", topics.ACTIVE_ALERTS_CHANGELOG, "Firing alerts")
# The first unanswered inbound turn per conversation (response times).
conversations = _table("conversations", topics.CONVERSATIONS_CHANGELOG, "Pending turns")
# One profile per customer (streams.profiles), keyed by customer id.
customer_profiles = _table(
    "customer-profiles", topics.CUSTOMER_PROFILES_CHANGELOG, "Customer profiles"
)

# The checks and clean-up every event passes before any model or index sees it.
edge = Edge(EdgeConfig.from_settings(settings))
# The models this worker scores with, kept current by agents.learner.follow_models.
live_model = LiveModel()
# The alert rules (config/alerts.yml unless CRMSTREAM_ALERT_RULES_FILE says otherwise).
alert_engine = AlertEngine(load_rules(settings.alert_rules_file))


def allow_batch_table_writes() -> None:
    """Let a batch's table changes wait for the producer without pausing the stream.

    Faust pauses a stream (and warns "producer buffer full") once 100 table
    changes wait to be produced; one batch of ours changes up to a few keys per event.
    """
    set_producer_buffer_limit(app.producer, 4 * settings.batch_max_events)
