"""The Kafka topics crmstream reads and writes, and their creation.

Names are the base names; :meth:`config.settings.Settings.topic_name` adds the
namespace. Retention is generous on inputs (so a new model or a fixed bug can
replay a week) and longest on dead letters (so nothing is lost before a person
looked at it).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from config.settings import Settings
from streams.kafka import client_options

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000

COMMUNICATIONS = "crm.communications"
FEEDBACK = "crm.feedback"
LABELS = "crm.labels"
SCORED = "crm.communications.scored"
ALERTS = "crm.alerts"
DEADLETTER = "crm.deadletter"
TRAINING = "crm.training"
MODELS = "crm.models"
MODEL_EVENTS = "crm.model-events"
# Live alerts: partial aggregates keyed by what they describe ("agent:a17"), the
# conversation turns that give response times (keyed by conversation), and the
# changelogs of the tables holding the windows and the firing alerts.
ALERT_AGGREGATES = "crm.alert-aggregates"
CONVERSATION_TURNS = "crm.conversation-turns"
ALERT_STATE_CHANGELOG = "crm.alert-state.changelog"
ACTIVE_ALERTS_CHANGELOG = "crm.active-alerts.changelog"
CONVERSATIONS_CHANGELOG = "crm.conversations.changelog"


@dataclass(frozen=True)
class TopicSpec:
    """A topic's base name, whether crmstream reads or writes it, and its retention."""

    name: str
    role: str  # "input", "output" or "internal"
    retention_days: int
    partitions: int | None = None  # None: the configured default
    compacted: bool = False  # a table's changelog: the newest value per key is kept forever

    def config(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact"}
        return {"retention.ms": str(self.retention_days * DAY_MS), "cleanup.policy": "delete"}


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(COMMUNICATIONS, "input", retention_days=7),
    TopicSpec(FEEDBACK, "input", retention_days=7),
    TopicSpec(LABELS, "input", retention_days=30),
    TopicSpec(SCORED, "output", retention_days=7),
    TopicSpec(ALERTS, "output", retention_days=30),
    # Dead letters are rare and must outlive a holiday: few partitions, long retention.
    TopicSpec(DEADLETTER, "output", retention_days=30, partitions=1),
    # One partition: the single learner reads every training example in order.
    TopicSpec(TRAINING, "internal", retention_days=7, partitions=1),
    # Snapshots, read whole by every worker; only the newest ones matter.
    TopicSpec(MODELS, "internal", retention_days=1, partitions=1),
    TopicSpec(MODEL_EVENTS, "output", retention_days=30, partitions=1),
    # Co-partitioned with the inputs (same default partition count): a table's
    # changelog partition must match the partition its stream reads.
    TopicSpec(ALERT_AGGREGATES, "internal", retention_days=1),
    TopicSpec(CONVERSATION_TURNS, "internal", retention_days=1),
    TopicSpec(ALERT_STATE_CHANGELOG, "internal", retention_days=0, compacted=True),
    TopicSpec(ACTIVE_ALERTS_CHANGELOG, "internal", retention_days=0, compacted=True),
    TopicSpec(CONVERSATIONS_CHANGELOG, "internal", retention_days=0, compacted=True),
)


async def ensure_topics(settings: Settings, specs: tuple[TopicSpec, ...] = TOPICS) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Existing topics are left as they are (partition counts are never changed
    behind an operator's back).
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=settings.topic_name(spec.name),
                num_partitions=spec.partitions or settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs=spec.config(),
            )
            for spec in specs
            if settings.topic_name(spec.name) not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(wanted)
            log.info("created topics %s", [t.name for t in wanted])
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def delete_topics(settings: Settings, specs: tuple[TopicSpec, ...] = TOPICS) -> None:
    """Delete this namespace's topics (used by tests to clean up after themselves)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [settings.topic_name(s.name) for s in specs]
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
