"""The local servers behind ``crmstream infra up | down | status``.

Each server knows how to fetch itself into the cache, write its configuration
into the state folder, start on loopback, tell whether it is healthy and stop.
A server whose address in the settings is not on loopback is *remote*: it is
checked but never started or stopped.

Processes run in their own session (process group) so that ``stop`` takes the
launcher and every child with it; their pid files live in the state folder.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import yaml

from config.settings import Settings, is_loopback_host, redact_url
from crmstream.infra.errors import InfraError
from crmstream.infra.fetch import maven_fetch

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
# Elasticsearch refuses to run as root; when we are root it runs as this user.
SERVICE_USER = "crmstream"
#: The consumer group the Kafka health check asks a coordinator for (it never joins it).
HEALTH_GROUP = "crmstream-health"


@dataclass(frozen=True)
class ServerStatus:
    """What ``infra status`` prints for one server."""

    name: str
    address: str
    managed: bool  # started and stopped by us (False: remote, only checked)
    healthy: bool
    pid: int | None


class LocalServer(ABC):
    """A server that ``infra up`` can fetch, start, check and stop."""

    name: str
    startup_timeout_s = 180.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_dir / self.name

    # -- what each server defines ------------------------------------------------
    @property
    @abstractmethod
    def address(self) -> str: ...

    @property
    @abstractmethod
    def managed(self) -> bool:
        """False when the settings point at a server elsewhere."""

    @abstractmethod
    def healthy(self) -> bool: ...

    @abstractmethod
    def fetch(self) -> None:
        """Download whatever is missing into the cache."""

    @abstractmethod
    def command(self) -> tuple[list[str], dict[str, str]]:
        """Write the configuration; return the command line and extra environment."""

    run_as_service_user = False

    def probe_settings(self) -> Settings | None:
        """The settings the health check connects with (None: nothing to connect with yet)."""
        return self.settings

    # -- shared lifecycle ----------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.name}.out"

    def pid(self) -> int | None:
        """The pid of the process we started, if it is still alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        _reap(pid)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def status(self) -> ServerStatus:
        return ServerStatus(self.name, self.address, self.managed, self.healthy(), self.pid())

    def start(self) -> bool:
        """Start the server unless it is healthy already; wait until it is healthy.

        Returns True when a process was started, False when a running one was reused.
        """
        if self.healthy():
            return False
        if not self.managed:
            raise InfraError(
                f"{self.name} at {self.address} is not reachable (remote: not started)"
            )
        if self.pid() is None:
            self.fetch()
            self.home.mkdir(parents=True, exist_ok=True)
            args, env = self.command()
            user = _service_user() if self.run_as_service_user else None
            if user is not None:
                _chown_tree(self.home, user)
            with self.log_file.open("ab") as log:
                process = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **env},
                    cwd=self.home,
                    start_new_session=True,
                    user=user,
                )
            self.pid_file.write_text(str(process.pid))
        self.wait_healthy()
        return True

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if self.pid() is None:
                raise InfraError(
                    f"{self.name} exited during start-up; see {self.log_file}:\n{self._log_tail()}"
                )
            time.sleep(0.5)
        raise InfraError(
            f"{self.name} not healthy after {self.startup_timeout_s:.0f}s; see {self.log_file}"
        )

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop the process we started (and its children). Returns True if one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while _group_alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def kafka_cluster_id(random_bytes: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A random Kafka cluster id: 16 bytes, URL-safe base64, and never starting with "-"
    (the storage tool would read it as an option: one format in 64 failed in CI so).
    Kafka's own ``Uuid.randomUuid`` draws again in that case; so does this.

    >>> kafka_cluster_id(iter([b"\\xf8" * 16, b"\\x01" * 16]).__next__)
    'AQEBAQEBAQEBAQEBAQEBAQ'
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(random_bytes()).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaServer(LocalServer):
    """Apache Kafka, one node in KRaft mode (broker and controller), from Maven Central."""

    name = "kafka"
    #: Broker properties that a variant (a test's own broker) sets on top of ours.
    extra_properties: ClassVar[dict[str, str]] = {}

    @property
    def _host_port(self) -> tuple[str, int]:
        first = self.settings.kafka_bootstrap_servers.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def address(self) -> str:
        return self.settings.kafka_bootstrap_servers

    @property
    def managed(self) -> bool:
        return self.settings.kafka_is_local

    @property
    def libs(self) -> Path:
        return self.settings.cache_dir / f"kafka-{self.settings.kafka_version}"

    def fetch(self) -> None:
        version = self.settings.kafka_version
        maven_fetch(
            [
                f"org.apache.kafka:kafka_2.13:{version}",
                # Route the broker's SLF4J logging into log4j2 (already a dependency).
                "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
            ],
            self.libs,
            cache_dir=self.settings.cache_dir,
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        host, port = self._host_port
        controller_port = port + 1000
        data = self.home / "data"
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{controller_port}",
            "controller.listener.names": "CONTROLLER",
            **self.listener_properties(host, port, controller_port),
            "log.dirs": str(data),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            # One node: crmstream's topics follow the broker's default (one replica) and
            # a write needs only that one in sync.
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created explicitly, with their partitions and retention.
            "auto.create.topics.enable": "false",
            **self.extra_properties,
        }
        server_properties = self.home / "server.properties"
        server_properties.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        log4j = self.home / "log4j2.properties"
        log4j.write_text(
            "rootLogger.level = INFO\nrootLogger.appenderRef.file.ref = file\n"
            "appender.file.type = File\nappender.file.name = file\n"
            f"appender.file.fileName = {self.home / 'server.log'}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        )
        java = self._java()
        classpath = f"{self.libs}/*"
        if not (data / "meta.properties").exists():
            cluster_id = kafka_cluster_id()
            formatted = subprocess.run(
                [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                 "-t", cluster_id, "-c", str(server_properties), *self.format_arguments()],
                check=False, capture_output=True, text=True,
            )  # fmt: skip
            if formatted.returncode != 0:
                # Not the command line: it may carry the SCRAM passwords.
                tail = "\n".join((formatted.stdout + formatted.stderr).splitlines()[-10:])
                raise InfraError(f"formatting Kafka's storage in {data} failed:\n{tail}")
        heap = self.settings.kafka_heap
        return (
            [java, f"-Xms{heap}", f"-Xmx{heap}", f"-Dlog4j2.configurationFile={log4j}",
             "-cp", classpath, "kafka.Kafka", str(server_properties)],
            {},
        )  # fmt: skip

    def listener_properties(self, host: str, port: int, controller_port: int) -> dict[str, str]:
        """Listeners and their protocols (plaintext on loopback here)."""
        return {
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        }

    def format_arguments(self) -> list[str]:
        """Extra ``StorageTool format`` arguments (the secured variant's SCRAM users)."""
        return []

    def _java(self) -> str:
        if self.settings.kafka_java_home is not None:
            return str(self.settings.kafka_java_home / "bin" / "java")
        java = shutil.which("java")
        if java is None:
            raise InfraError(
                "Java 17+ is needed to run Kafka: apt-get install openjdk-17-jre-headless"
            )
        return java

    def healthy(self) -> bool:
        from aiokafka.admin import AIOKafkaAdminClient

        from streams.kafka import client_options

        probe_settings = self.probe_settings()
        if probe_settings is None:
            return False

        async def probe() -> bool:
            # A refused connection is the answer we are asking for, not an error to log.
            logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
            options = client_options(probe_settings)
            admin = AIOKafkaAdminClient(**options, request_timeout_ms=3000)
            try:
                await asyncio.wait_for(admin.start(), 5)
                await asyncio.wait_for(admin.list_topics(), 5)
                # A brand-new broker answers metadata before it can coordinate a consumer
                # group (it creates __consumer_offsets on the first such request): until
                # it can, consumers and offset look-ups fail, so it is not ready yet.
                await asyncio.wait_for(admin.find_coordinator(HEALTH_GROUP), 5)
                return True
            except Exception:
                return False
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()

        return asyncio.run(probe())


class ElasticsearchServer(LocalServer):
    """Elasticsearch from the ``integ-test-zip`` distribution on Maven Central."""

    name = "elasticsearch"
    run_as_service_user = True

    @property
    def address(self) -> str:
        return redact_url(self.settings.elasticsearch_url)

    @property
    def managed(self) -> bool:
        return self.settings.elasticsearch_is_local

    @property
    def distribution(self) -> Path:
        return self.home / f"elasticsearch-{self.settings.elasticsearch_version}"

    def fetch(self) -> None:
        version = self.settings.elasticsearch_version
        download = self.settings.cache_dir / f"elasticsearch-{version}-zip"
        maven_fetch(
            [f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"],
            download,
            cache_dir=self.settings.cache_dir,
        )
        if not self.distribution.is_dir():
            self.home.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(download / f"elasticsearch-{version}.zip") as archive:
                archive.extractall(self.home)
            for script in (self.distribution / "bin").iterdir():
                script.chmod(0o755)

    def command(self) -> tuple[list[str], dict[str, str]]:
        java_home = self.settings.elasticsearch_java_home
        if not (java_home / "bin" / "java").exists():
            raise InfraError(
                f"Elasticsearch {self.settings.elasticsearch_version} needs Java 21+; "
                f"none at {java_home} (set CRMSTREAM_ELASTICSEARCH_JAVA_HOME)"
            )
        url = urlsplit(self.settings.elasticsearch_url)
        port = url.port or 9200
        config = {
            "cluster.name": "crmstream-local",
            "node.name": "crmstream-local-1",
            "network.host": url.hostname,
            "http.port": port,
            "transport.port": port + 100,
            "discovery.type": "single-node",
            "path.data": str(self.home / "data"),
            "path.logs": str(self.home / "logs"),
            # The integ-test-zip carries x-pack-security; the plain local node runs
            # without it, the secured variant turns it on (security_config).
            "xpack.security.enabled": False,
            "action.destructive_requires_name": True,
            # Small local disks must not flip indices read-only in the middle of a demo.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            **self.security_config(),
        }
        (self.distribution / "config" / "elasticsearch.yml").write_text(yaml.safe_dump(config))
        heap = self.settings.elasticsearch_heap
        env = {"ES_JAVA_HOME": str(java_home), "ES_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}"}
        return [str(self.distribution / "bin" / "elasticsearch")], env

    def security_config(self) -> dict[str, Any]:
        """elasticsearch.yml's security settings (off for the plain local node)."""
        return {}

    def healthy(self) -> bool:
        from streams.search_index import create_client

        probe_settings = self.probe_settings()
        if probe_settings is None:
            return False
        client = create_client(probe_settings, request_timeout=3.0, retries=0)
        try:
            health: Any = client.cluster.health()
            return bool(health["status"] in ("green", "yellow"))
        except Exception:
            return False
        finally:
            client.close()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _debian_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InfraError(f"{name} is needed: apt-get install prometheus prometheus-alertmanager")
    return path


class PrometheusServer(LocalServer):
    """Prometheus from the Debian package, scraping the local worker, alerting to Alertmanager.

    ``rules_dir`` and ``interval`` let a test run the same configuration with
    its own (time-compressed) rules and a faster scrape and evaluation.
    """

    name = "prometheus"

    def __init__(
        self, settings: Settings, *, rules_dir: Path | None = None, interval: str | None = None
    ) -> None:
        super().__init__(settings)
        self.rules_dir = rules_dir or CONFIG_DIR / "prometheus"
        self.interval = interval

    @property
    def address(self) -> str:
        return redact_url(self.settings.prometheus_url)

    @property
    def managed(self) -> bool:
        return self.settings.prometheus_is_local

    def fetch(self) -> None:
        _debian_binary("prometheus")

    def config(self) -> dict[str, Any]:
        """config/prometheus/prometheus.yml with the local worker, learner and Alertmanager."""
        config: dict[str, Any] = yaml.safe_load(
            (CONFIG_DIR / "prometheus" / "prometheus.yml").read_text()
        )
        targets = {
            "crmstream-worker": f"{self.settings.worker_web_host}:{self.settings.worker_web_port}",
            "crmstream-learner": (
                f"{self.settings.learner_web_host}:{self.settings.learner_web_port}"
            ),
        }
        for job in config.get("scrape_configs", []):
            if job.get("job_name") in targets:
                job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        config["rule_files"] = [
            str(self.rules_dir / pattern) for pattern in config.get("rule_files", [])
        ]
        alertmanager = urlsplit(self.settings.alertmanager_url).netloc
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
        if self.interval:
            config["global"]["scrape_interval"] = self.interval
            config["global"]["evaluation_interval"] = self.interval
        return config

    def command(self) -> tuple[list[str], dict[str, str]]:
        path = self.home / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        listen = urlsplit(self.settings.prometheus_url).netloc
        return (
            [_debian_binary("prometheus"), f"--config.file={path}",
             f"--storage.tsdb.path={self.home / 'data'}", f"--web.listen-address={listen}",
             "--web.enable-lifecycle"],
            {},
        )  # fmt: skip

    def healthy(self) -> bool:
        return _http_ok(f"{self.settings.prometheus_url}/-/ready")


class AlertmanagerServer(LocalServer):
    """Alertmanager from the Debian package, with config/prometheus/alertmanager.yml.

    ``webhook_url`` replaces the webhook receivers' URL (the shipped one names a
    compose service); clustering is off, so nothing listens beyond loopback.
    """

    name = "alertmanager"

    def __init__(self, settings: Settings, *, webhook_url: str | None = None) -> None:
        super().__init__(settings)
        self.webhook_url = webhook_url

    @property
    def address(self) -> str:
        return redact_url(self.settings.alertmanager_url)

    @property
    def managed(self) -> bool:
        return self.settings.alertmanager_is_local

    def fetch(self) -> None:
        _debian_binary("prometheus-alertmanager")

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = yaml.safe_load(
            (CONFIG_DIR / "prometheus" / "alertmanager.yml").read_text()
        )
        if self.webhook_url:
            for receiver in config.get("receivers", []):
                for webhook in receiver.get("webhook_configs", []):
                    webhook["url"] = self.webhook_url
        return config

    def command(self) -> tuple[list[str], dict[str, str]]:
        path = self.home / "alertmanager.yml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        listen = urlsplit(self.settings.alertmanager_url).netloc
        return (
            [_debian_binary("prometheus-alertmanager"), f"--config.file={path}",
             f"--storage.path={self.home / 'data'}", f"--web.listen-address={listen}",
             "--cluster.listen-address="],
            {},
        )  # fmt: skip

    def healthy(self) -> bool:
        return _http_ok(f"{self.settings.alertmanager_url}/-/ready")


class OpsPageServer(LocalServer):
    """``crmstream ops`` in the background (the demo leaves it running; ``infra down`` stops it).

    It runs the code of the checkout that started it (``PYTHONPATH``), with this
    server's settings in its environment.
    """

    name = "ops"
    startup_timeout_s = 60.0

    @property
    def url(self) -> str:
        return f"http://{self.settings.ops_web_host}:{self.settings.ops_web_port}/"

    @property
    def address(self) -> str:
        return self.url

    @property
    def managed(self) -> bool:
        return is_loopback_host(self.settings.ops_web_host)

    def healthy(self) -> bool:
        return _http_ok(f"{self.url}healthz")

    def fetch(self) -> None:
        """Nothing to fetch: the page and plotly.js come with the Python packages."""

    def command(self) -> tuple[list[str], dict[str, str]]:
        s = self.settings
        env = {
            "PYTHONPATH": str(CONFIG_DIR.parent),
            "CRMSTREAM_NAMESPACE": s.namespace,
            "CRMSTREAM_ELASTICSEARCH_URL": s.elasticsearch_url,
            "CRMSTREAM_PROMETHEUS_URL": s.prometheus_url,
            "CRMSTREAM_OPS_WEB_HOST": s.ops_web_host,
            "CRMSTREAM_OPS_WEB_PORT": str(s.ops_web_port),
            "CRMSTREAM_OPS_REFRESH_S": str(s.ops_refresh_s),
            "CRMSTREAM_OPS_RESOLVED_HOURS": str(s.ops_resolved_hours),
        }
        return [sys.executable, "-m", "crmstream", "ops"], env


def _reap(pid: int) -> None:
    """Collect the exit status of our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _service_user() -> str | None:
    """The user to run Elasticsearch as: ourselves, or a system user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
        )
    return SERVICE_USER


def _chown_tree(path: Path, user: str) -> None:
    """Hand a server's folder to the user it runs as (the parents stay traversable)."""
    uid = pwd.getpwnam(user).pw_uid
    os.chown(path, uid, -1)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(root, name), uid, -1, follow_symlinks=False)
    for parent in path.parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise InfraError(
                f"{parent} is not traversable by {user}; choose CRMSTREAM_STATE_DIR elsewhere"
            )
