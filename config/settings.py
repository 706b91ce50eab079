"""All of crmstream's settings, in one place.

Every setting comes from an environment variable with the prefix ``CRMSTREAM_``
(or a ``.env`` file in the working directory); the defaults describe a local
single-node stack on loopback. Secrets are :class:`pydantic.SecretStr`, so they
never appear in ``repr()``, logs or ``crmstream infra status``.

>>> s = Settings(kafka_bootstrap_servers="127.0.0.1:9092", namespace="t1")
>>> s.topic_name("crm.communications")
't1.crm.communications'
>>> s.index_name("crm-communications")
't1-crm-communications'
>>> Settings(elasticsearch_password="hunter2", elasticsearch_username="u")
... # doctest: +ELLIPSIS
Settings(...elasticsearch_password=SecretStr('**********')...)
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CRMSTREAM_"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crmstream"


def _default_state_dir() -> Path:
    # Elasticsearch refuses to run as root, so when we are root the local servers
    # run as an unprivileged user and their state must live outside /root.
    if os.geteuid() == 0:
        return Path("/var/lib/crmstream")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "crmstream"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (where ``infra up`` may start servers).

    >>> is_loopback_host("127.0.0.1"), is_loopback_host("localhost"), is_loopback_host("es.prod")
    (True, True, False)
    """
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """Drop credentials embedded in a URL so it can be printed.

    >>> redact_url("https://elastic:secret@es.example:9200/")
    'https://***@es.example:9200/'
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Settings(BaseSettings):
    """crmstream's settings; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    # Naming: a namespace prefixes every topic, index and consumer group, so that
    # several deployments (or test sessions) can share one cluster.
    namespace: str = Field("", pattern=r"^[a-z0-9_-]*$")

    # Kafka
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_keyfile_password: SecretStr | None = None
    # How long the group waits for a silent worker before its partitions move on: a
    # crashed worker's partitions resume on the others after about this long.
    kafka_session_timeout_s: float = Field(10.0, ge=6, le=300)
    topic_partitions: int = Field(6, ge=1)
    # Unset: the broker's own default.replication.factor (1 on the local single node).
    topic_replication_factor: int | None = Field(None, ge=1)

    # Elasticsearch
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_api_key: SecretStr | None = None
    elasticsearch_username: str | None = None
    elasticsearch_password: SecretStr | None = None
    elasticsearch_ca_certs: Path | None = None
    elasticsearch_request_timeout_s: float = Field(30.0, gt=0)

    # The edge: hard limits, the text budget for models and index, PII redaction
    text_max_bytes: int = Field(256 * 1024, ge=1024)
    text_budget_chars: int = Field(8000, ge=100)
    max_future_hours: float = Field(24.0, ge=0)
    pii_types: str = "EMAIL,PHONE,CARD,CN_ID,IBAN"

    # Online models: one learner, snapshots signed and followed by every worker
    model_signing_key: SecretStr | None = None
    # A worker restores each snapshot it follows (about half a second of its loop for a
    # few MB): every 30 s keeps that small and scoring at most half a minute behind.
    model_snapshot_interval_s: float = Field(30.0, gt=0)
    model_sync_poll_s: float = Field(1.0, gt=0)
    # The learner: "child" runs it beside each worker as a child process (a core of its
    # own); "off" leaves it to a separate `crmstream learner` (e.g. its own container).
    learner: Literal["child", "off"] = "child"
    learner_web_host: str = "127.0.0.1"
    learner_web_port: int = Field(6067, ge=1, le=65535)

    # Live alerts: the rules file (windows, thresholds, severities, cooldowns)
    alert_rules_file: Path = Path(__file__).resolve().parent / "alerts.yml"
    # Customer profiles and segments (recent means, segment count and features, idle time)
    customers_file: Path = Path(__file__).resolve().parent / "customers.yml"

    # Prometheus and Alertmanager (started locally by `crmstream infra up`)
    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = "http://127.0.0.1:9093"

    # The ops page (`crmstream ops`): where it listens, how often it refreshes, and how
    # long resolved alerts stay listed (hours of processing time).
    ops_web_host: str = "127.0.0.1"
    ops_web_port: int = Field(6068, ge=1, le=65535)
    ops_refresh_s: float = Field(2.0, gt=0)
    ops_resolved_hours: float = Field(6.0, gt=0)

    # Worker
    worker_web_host: str = "127.0.0.1"
    worker_web_port: int = Field(6066, ge=1, le=65535)
    batch_max_events: int = Field(500, ge=1)
    # A batch waits at most this long for more events. Under load it fills at once (Faust
    # hands over what is already fetched); when the input goes quiet, what came goes out
    # after this wait instead of a whole second, which bounds the latency it adds.
    batch_max_wait_s: float = Field(0.1, gt=0)
    # How long the broker may hold a worker's fetch request when it has nothing new
    # (Faust fixes 1.5 s; see streams.app.PromptFetchConsumerThread for why it matters).
    kafka_fetch_max_wait_ms: int = Field(100, ge=1, le=1500)
    # Scored records and dead letters in Kafka transactions with their input offsets, for
    # consumers that read committed data (streams.transactions; README "Guarantees").
    exactly_once: bool = False
    # The input reader takes no new batch while more messages than this wait on the
    # internal topics (alert aggregates, conversation turns, customer contacts) for the
    # workers' tables (streams.backlog). A batch adds about one per partition to each.
    internal_backlog_max: int = Field(600, ge=1)
    log_level: Literal["debug", "info", "warn", "error", "crit"] = "info"
    # RocksDB memory of all of a worker's tables together (block cache and memtables).
    table_memory_mb: int = Field(64, ge=8)

    # Local servers
    # True: `crmstream infra up` runs the secured variant (Kafka SASL_SSL with SCRAM,
    # Elasticsearch with security and TLS; see crmstream/infra/security.py).
    local_security: bool = False
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    state_dir: Path = Field(default_factory=_default_state_dir)
    kafka_version: str = "4.1.1"
    elasticsearch_version: str = "9.2.0"
    elasticsearch_java_home: Path = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
    elasticsearch_heap: str = "1g"
    kafka_java_home: Path | None = None
    kafka_heap: str = "1g"

    def topic_name(self, base: str) -> str:
        """The Kafka topic for a base name such as ``crm.communications``."""
        return f"{self.namespace}.{base}" if self.namespace else base

    def index_name(self, base: str) -> str:
        """The Elasticsearch index, alias or template name for a base name."""
        return f"{self.namespace}-{base}" if self.namespace else base

    @property
    def app_id(self) -> str:
        """The Faust application id, which is also the Kafka consumer group."""
        return self.index_name("crmstream")

    @property
    def kafka_is_local(self) -> bool:
        """Whether every bootstrap server is on loopback (so we may run it ourselves)."""
        hosts = [hp.rsplit(":", 1)[0] for hp in self.kafka_bootstrap_servers.split(",")]
        return all(is_loopback_host(h.strip()) for h in hosts)

    @property
    def elasticsearch_is_local(self) -> bool:
        return is_loopback_host(urlsplit(self.elasticsearch_url).hostname or "")

    @property
    def prometheus_is_local(self) -> bool:
        return is_loopback_host(urlsplit(self.prometheus_url).hostname or "")

    @property
    def alertmanager_is_local(self) -> bool:
        return is_loopback_host(urlsplit(self.alertmanager_url).hostname or "")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
