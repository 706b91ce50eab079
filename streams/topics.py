"""The Kafka topics crmstream reads and writes, and their creation.

Names are the base names; :meth:`config.settings.Settings.topic_name` adds the
namespace. Retention is generous on inputs (so a new model or a fixed bug can
replay a week) and longest on dead letters (so nothing is lost before a person
looked at it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.protocol.admin import (
    CreateTopicsRequest_v3,
    CreateTopicsResponse_v3,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.metadata import MetadataRequest

from config.settings import Settings
from crmstream.errors import CrmstreamError
from streams.internals import admin_request_timeout_ms, send_admin_request, send_to_controller
from streams.kafka import client_options

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000

COMMUNICATIONS = "crm.communications"
FEEDBACK = "crm.feedback"
LABELS = "crm.labels"
#: What the outside world writes and the workers read (streams.inputs).
INPUTS = (COMMUNICATIONS, FEEDBACK, LABELS)
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
# Customer profiles: each communication and rating as a contact keyed by customer, and
# the changelog of the profiles table.
CUSTOMER_CONTACTS = "crm.customer-contacts"
CUSTOMER_PROFILES_CHANGELOG = "crm.customer-profiles.changelog"


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
    TopicSpec(CUSTOMER_CONTACTS, "internal", retention_days=1),
    TopicSpec(CUSTOMER_PROFILES_CHANGELOG, "internal", retention_days=0, compacted=True),
)


#: The setting a failed or mismatched topic points the operator at.
REPLICATION_SETTING = "CRMSTREAM_TOPIC_REPLICATION_FACTOR"
PARTITIONS_SETTING = "CRMSTREAM_TOPIC_PARTITIONS"
#: CreateTopics' "use the broker's default" for partitions or replication (KIP-464).
BROKER_DEFAULT = -1
#: Replicas a production topic should have when the cluster has the brokers for it.
WANTED_REPLICAS = 3


class TopicSetupError(CrmstreamError, RuntimeError):
    """crmstream's topics cannot be set up as configured.

    The message is one line that names the topic, the broker's error and the
    setting to look at: the worker logs it and stops.
    """


@dataclass(frozen=True)
class TopicState:
    """What the cluster says about one existing topic."""

    name: str
    partitions: int
    replicas: int  # the fewest replicas of any of its partitions
    min_insync_replicas: int | None = None


@dataclass(frozen=True)
class ClusterFacts:
    """The cluster-wide figures the checks and the messages quote."""

    brokers: int
    default_replication_factor: int | None = None


def expected_partitions(settings: Settings, spec: TopicSpec) -> int:
    return spec.partitions or settings.topic_partitions


def creation_request(settings: Settings, spec: TopicSpec) -> tuple[Any, ...]:
    """One topic of a CreateTopics request: name, partitions, replication, assignment, configs.

    The replication factor is the broker's default (-1) unless the setting gives one.

    >>> s = Settings(namespace="n", topic_partitions=6)
    >>> creation_request(s, TopicSpec("crm.training", "internal", 7, partitions=1))[:3]
    ('n.crm.training', 1, -1)
    >>> creation_request(s.model_copy(update={"topic_replication_factor": 3}),
    ...                  TopicSpec("crm.labels", "input", 30))[:3]
    ('n.crm.labels', 6, 3)
    """
    replication = settings.topic_replication_factor
    return (
        settings.topic_name(spec.name),
        expected_partitions(settings, spec),
        BROKER_DEFAULT if replication is None else replication,
        [],
        list(spec.config().items()),
    )


def describe_settings(settings: Settings, cluster: ClusterFacts) -> str:
    """The settings and cluster figures behind a topic problem, for the one-line message.

    >>> print(describe_settings(Settings(topic_replication_factor=4), ClusterFacts(brokers=3)))
    CRMSTREAM_TOPIC_REPLICATION_FACTOR=4, CRMSTREAM_TOPIC_PARTITIONS=6; the cluster has 3 broker(s)
    >>> describe_settings(Settings(), ClusterFacts(brokers=1, default_replication_factor=2))
    ... # doctest: +NORMALIZE_WHITESPACE
    'CRMSTREAM_TOPIC_REPLICATION_FACTOR unset (the broker default, default.replication.factor=2),
     CRMSTREAM_TOPIC_PARTITIONS=6; the cluster has 1 broker(s)'
    """
    if settings.topic_replication_factor is None:
        default = cluster.default_replication_factor
        shown = "?" if default is None else str(default)
        replication = (
            f"{REPLICATION_SETTING} unset (the broker default, default.replication.factor={shown})"
        )
    else:
        replication = f"{REPLICATION_SETTING}={settings.topic_replication_factor}"
    return (
        f"{replication}, {PARTITIONS_SETTING}={settings.topic_partitions}; "
        f"the cluster has {cluster.brokers} broker(s)"
    )


def creation_failures(topic_errors: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The topics the broker refused to create, each with its error, from a CreateTopics answer.

    A topic that exists already is no failure (another worker won the race): the
    check of existing topics looks at it next.

    >>> creation_failures([
    ...     {"topic": "a", "error_code": 0, "error_message": None},
    ...     {"topic": "b", "error_code": 36, "error_message": "exists"},
    ...     {"topic": "c", "error_code": 38, "error_message": "only 1 broker(s)"},
    ... ])
    [('c', 'INVALID_REPLICATION_FACTOR: only 1 broker(s)')]
    """
    failures = []
    for answer in topic_errors:
        code = answer["error_code"]
        if code == 0 or code == TopicAlreadyExistsError.errno:
            continue
        error = for_code(code)
        detail = answer.get("error_message") or error.description
        failures.append((answer["topic"], f"{error.message}: {detail}"))
    return failures


def one_line(problems: list[tuple[str, str]], settings: Settings, cluster: ClusterFacts) -> str:
    """Problems as one line: topics grouped by problem, then the settings behind them.

    >>> error = "INVALID_REPLICATION_FACTOR: x"
    >>> print(one_line([("n.a", error), ("n.b", error)],
    ...                Settings(topic_replication_factor=4), ClusterFacts(brokers=1)))
    ... # doctest: +NORMALIZE_WHITESPACE
    Kafka topic n.a (and 1 more: n.b): INVALID_REPLICATION_FACTOR: x
    (CRMSTREAM_TOPIC_REPLICATION_FACTOR=4, CRMSTREAM_TOPIC_PARTITIONS=6;
    the cluster has 1 broker(s))
    """
    by_problem: dict[str, list[str]] = {}
    for topic, problem in problems:
        by_problem.setdefault(problem, []).append(topic)
    parts = []
    for problem, topics in by_problem.items():
        first, rest = topics[0], topics[1:]
        more = f" (and {len(rest)} more: {', '.join(rest)})" if rest else ""
        parts.append(f"Kafka topic {first}{more}: {problem}")
    return f"{'; '.join(parts)} ({describe_settings(settings, cluster)})"


def mismatches(
    expected: Mapping[str, int], states: Mapping[str, TopicState], settings: Settings
) -> list[tuple[str, str]]:
    """How the existing topics differ from what crmstream needs (empty when they do not).

    Partition counts must match: tables and their input streams are co-partitioned
    and records are routed by hand to ``partition_for(key, CRMSTREAM_TOPIC_PARTITIONS)``.
    A replication factor set explicitly is a floor.

    >>> s = Settings(topic_replication_factor=3)
    >>> mismatches({"a": 6, "b": 1, "c": 6},
    ...            {"a": TopicState("a", 6, 3), "b": TopicState("b", 6, 3)}, s)
    ... # doctest: +NORMALIZE_WHITESPACE
    [('b', 'has 6 partition(s), crmstream needs 1'),
     ('c', 'does not exist in the cluster metadata')]
    >>> mismatches({"a": 6}, {"a": TopicState("a", 6, 1)}, s)
    [('a', 'has 1 replica(s), fewer than CRMSTREAM_TOPIC_REPLICATION_FACTOR=3')]
    """
    problems = []
    for name, partitions in expected.items():
        state = states.get(name)
        if state is None:
            problems.append((name, "does not exist in the cluster metadata"))
            continue
        if state.partitions != partitions:
            problems.append(
                (name, f"has {state.partitions} partition(s), crmstream needs {partitions}")
            )
        wanted = settings.topic_replication_factor
        if wanted is not None and state.replicas < wanted:
            problems.append(
                (
                    name,
                    f"has {state.replicas} replica(s), fewer than {REPLICATION_SETTING}={wanted}",
                )
            )
    return problems


def _topics_have(names: list[str]) -> str:
    return (
        f"Kafka topic {names[0]} has"
        if len(names) == 1
        else f"Kafka topics {', '.join(names)} have"
    )


def replication_warnings(states: Iterable[TopicState], cluster: ClusterFacts) -> list[str]:
    """Topics with fewer replicas than the cluster could give or than min.insync.replicas needs.

    "Could give" is three replicas, or every broker on a smaller cluster.

    >>> replication_warnings([TopicState("a", 6, 1, 1)], ClusterFacts(brokers=1))
    []
    >>> print(*replication_warnings([TopicState("a", 6, 1, 1), TopicState("b", 6, 1, 1)],
    ...                             ClusterFacts(brokers=3)))  # doctest: +NORMALIZE_WHITESPACE
    Kafka topics a, b have 1 replica(s) although the cluster has 3 brokers: losing one
    broker loses their data or stops them; set CRMSTREAM_TOPIC_REPLICATION_FACTOR
    (or the brokers' default.replication.factor) to 3 for new topics, and reassign
    the partitions of existing ones
    >>> print(*replication_warnings([TopicState("a", 6, 3, 4)], ClusterFacts(brokers=5)))
    ... # doctest: +NORMALIZE_WHITESPACE
    Kafka topic a has 3 replica(s), fewer than its min.insync.replicas=4:
    the broker refuses every write with acks=all (NOT_ENOUGH_REPLICAS)
    """
    states = list(states)
    target = min(cluster.brokers, WANTED_REPLICAS)
    warnings = []
    few: dict[int, list[str]] = {}
    for state in states:
        if state.replicas < target:
            few.setdefault(state.replicas, []).append(state.name)
    for replicas, names in sorted(few.items()):
        warnings.append(
            f"{_topics_have(names)} {replicas} replica(s) although the cluster has "
            f"{cluster.brokers} brokers: losing one broker loses their data or stops them; "
            f"set {REPLICATION_SETTING} (or the brokers' default.replication.factor) to "
            f"{target} for new topics, and reassign the partitions of existing ones"
        )
    short: dict[tuple[int, int], list[str]] = {}
    for state in states:
        isr = state.min_insync_replicas
        if isr is not None and state.replicas < isr:
            short.setdefault((state.replicas, isr), []).append(state.name)
    for (replicas, isr), names in sorted(short.items()):
        its = "its" if len(names) == 1 else "their"
        warnings.append(
            f"{_topics_have(names)} {replicas} replica(s), fewer than {its} "
            f"min.insync.replicas={isr}: the broker refuses every write with acks=all "
            "(NOT_ENOUGH_REPLICAS)"
        )
    return warnings


# -- the requests aiokafka 0.14 does not offer as we need them ------------------------
# aiokafka sends CreateTopics v3 at most, which predates "-1: the broker's default"
# (KIP-464, v4; a Kafka 4.1 controller honours -1 in v3 too, but v4 is the version that
# promises it). v4 has v3's fields, so only the version number is new. And its
# describe_topics asks for metadata with auto-creation allowed, which on a cluster with
# auto.create.topics.enable would create a topic we are only looking at with the
# broker's defaults. aiokafka is pinned (pyproject.toml), so these stay in step.


class _CreateTopicsResponseV4(Response):  # type: ignore[misc]
    API_KEY = 19
    API_VERSION = 4
    SCHEMA = CreateTopicsResponse_v3.SCHEMA


class _CreateTopicsRequestV4(RequestStruct):  # type: ignore[misc]
    API_KEY = 19
    API_VERSION = 4
    RESPONSE_TYPE = _CreateTopicsResponseV4
    SCHEMA = CreateTopicsRequest_v3.SCHEMA


class _CreateTopicsRequest(Request[CreateTopicsRequest_v3 | _CreateTopicsRequestV4]):  # type: ignore[misc]
    """CreateTopics at v4 when the broker speaks it (v3 otherwise), never validate-only."""

    API_KEY = 19

    def __init__(self, topics: list[tuple[Any, ...]], timeout_ms: int) -> None:
        self.topics = topics
        self.timeout_ms = timeout_ms

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(
            create_topic_requests=self.topics, timeout=self.timeout_ms, validate_only=False
        )


@contextlib.asynccontextmanager
async def _admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _cluster_facts(admin: AIOKafkaAdminClient) -> ClusterFacts:
    cluster = await admin.describe_cluster()
    brokers = [b["node_id"] for b in cluster["brokers"]]
    default = None
    if brokers:
        resource = ConfigResource(
            ConfigResourceType.BROKER, str(brokers[0]), {"default.replication.factor": None}
        )
        default_value = (
            _config_values(await admin.describe_configs([resource]))
            .get(str(brokers[0]), {})
            .get("default.replication.factor")
        )
        default = int(default_value) if default_value is not None else None
    return ClusterFacts(brokers=len(brokers), default_replication_factor=default)


def _config_values(responses: Iterable[Any]) -> dict[str, dict[str, str | None]]:
    """DescribeConfigs answers as {resource name: {config name: value}}."""
    values: dict[str, dict[str, str | None]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                continue
            entries = values.setdefault(resource["resource_name"], {})
            for entry in resource["config_entries"]:
                entries[entry["config_names"]] = entry["config_value"]
    return values


async def _topic_states(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, TopicState]:
    """The topics among ``names`` that exist (a leaderless partition still counts)."""
    # Not describe_topics: it allows auto-creation.
    request = MetadataRequest(names, allow_auto_topic_creation=False)
    metadata = await send_admin_request(admin, request)
    present = {}
    for topic in metadata.to_object()["topics"]:
        partitions = topic["partitions"]
        if topic["error_code"] != 0 or not partitions:
            continue
        present[topic["topic"]] = (len(partitions), min(len(p["replicas"]) for p in partitions))
    if not present:
        return {}
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, {"min.insync.replicas": None})
        for name in present
    ]
    configs = _config_values(await admin.describe_configs(resources))
    states = {}
    for name, (partitions, replicas) in present.items():
        isr = configs.get(name, {}).get("min.insync.replicas")
        states[name] = TopicState(name, partitions, replicas, int(isr) if isr else None)
    return states


async def _checked_states(
    admin: AIOKafkaAdminClient,
    settings: Settings,
    specs: tuple[TopicSpec, ...],
    cluster: ClusterFacts,
    wait_s: float,
) -> dict[str, TopicState]:
    """The topics' states, once they all exist (or ``wait_s`` passed) and match the settings."""
    expected = {settings.topic_name(s.name): expected_partitions(settings, s) for s in specs}
    states = await _topic_states(admin, list(expected))
    deadline = time.monotonic() + wait_s
    # A topic just created reaches every broker's metadata a moment later.
    while len(states) < len(expected) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        states = await _topic_states(admin, list(expected))
    problems = mismatches(expected, states, settings)
    if problems:
        raise TopicSetupError(one_line(problems, settings, cluster))
    return states


async def ensure_topics(
    settings: Settings, specs: tuple[TopicSpec, ...] = TOPICS, *, wait_s: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet and check them all; return the names created.

    Raises :class:`TopicSetupError` (one line: the topic, the broker's error, the
    settings) when the broker refuses a topic, or when a topic does not exist as
    configured ``wait_s`` after its creation (partitions; at least the replication
    factor when one is set). Existing topics are never changed behind an operator's
    back. Logs a warning for topics with fewer replicas than the cluster could give
    or than their ``min.insync.replicas`` needs.
    """
    async with _admin(settings) as admin:
        cluster = await _cluster_facts(admin)
        existing = set(await admin.list_topics())
        missing = [s for s in specs if settings.topic_name(s.name) not in existing]
        created: list[str] = []
        if missing:
            request = _CreateTopicsRequest(
                [creation_request(settings, s) for s in missing], admin_request_timeout_ms(admin)
            )
            # The controller decides; aiokafka's own create_topics sends there too.
            response = await send_to_controller(admin, request)
            topic_errors = response.to_object()["topic_errors"]
            failures = creation_failures(topic_errors)
            if failures:
                raise TopicSetupError("cannot create " + one_line(failures, settings, cluster))
            created = [a["topic"] for a in topic_errors if a["error_code"] == 0]
            log.info("created Kafka topics %s", created)
        states = await _checked_states(admin, settings, specs, cluster, wait_s)
        for warning in replication_warnings(states.values(), cluster):
            log.warning("%s", warning)
        return created


async def verify_topics(settings: Settings, specs: tuple[TopicSpec, ...] = TOPICS) -> None:
    """Raise :class:`TopicSetupError` unless every topic exists as configured (creates none)."""
    async with _admin(settings) as admin:
        await _checked_states(admin, settings, specs, await _cluster_facts(admin), wait_s=0)


async def delete_topics(settings: Settings, specs: tuple[TopicSpec, ...] = TOPICS) -> None:
    """Delete this namespace's topics (used by tests to clean up after themselves)."""
    async with _admin(settings) as admin:
        existing = set(await admin.list_topics())
        names = [settings.topic_name(s.name) for s in specs]
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
