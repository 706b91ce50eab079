"""The Faust application: one object, configured from the settings, and its topics.

The agents in :mod:`agents` attach to ``app``; ``crmstream worker`` runs it.
"""

from __future__ import annotations

import faust
from faust.sensors.prometheus import setup_prometheus_sensors

from config.settings import get_settings
from streams import topics
from streams.kafka import broker_url, faust_credentials
from streams.model_sync import LiveModel
from streams.pipeline import Edge, EdgeConfig

settings = get_settings()

app = faust.App(
    settings.app_id,
    broker=broker_url(settings),
    broker_credentials=faust_credentials(settings),
    # Our topics are created with their own partitions and retention (streams.topics);
    # Faust must neither declare them nor create its leader topic.
    topic_allow_declare=False,
    topic_disable_leader=True,
    topic_partitions=settings.topic_partitions,
    consumer_auto_offset_reset="earliest",
    value_serializer="raw",
    key_serializer="raw",
    web_bind=settings.worker_web_host,
    web_host=settings.worker_web_host,
    web_port=settings.worker_web_port,
    datadir=str(settings.state_dir / "worker" / settings.app_id),
    store="memory://",
    # One message may carry a long email thread; the broker's default limit is ~1 MB.
    producer_max_request_size=1_048_576,
)
setup_prometheus_sensors(app, name_prefix="crmstream_faust")

communications_topic = app.topic(settings.topic_name(topics.COMMUNICATIONS))
feedback_topic = app.topic(settings.topic_name(topics.FEEDBACK))
labels_topic = app.topic(settings.topic_name(topics.LABELS))

training_topic = app.topic(settings.topic_name(topics.TRAINING))

# The checks and clean-up every event passes before any model or index sees it.
edge = Edge(EdgeConfig.from_settings(settings))
# The models this worker scores with, kept current by agents.learner.follow_models.
live_model = LiveModel()
