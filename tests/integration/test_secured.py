"""crmstream against secured servers: Kafka SASL_SSL (SCRAM-SHA-512), Elasticsearch TLS + auth.

One secured pair per session, started by ``crmstream infra up`` with
``CRMSTREAM_LOCAL_SECURITY=true`` on its own ports and state folder (never the
shared plain servers) and stopped with ``infra down``. The worker gets nothing
but the generated ``crmstream.env``: certificates are verified, the Kafka user
is created at format time, the Elasticsearch user holds crmstream's role only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.settings import Settings
from crmstream.generator import EventGenerator
from crmstream.infra import WorkerProcess
from crmstream.infra.secured import (
    elasticsearch_client_settings,
    env_file,
    set_elasticsearch_user,
    wait_authenticates,
)
from crmstream.infra.security import (
    certificate_pem,
    make_ca,
    parse_env_file,
    tls_files,
    write_private,
)
from crmstream.search import SearchFilters, search
from streams.search_index import ALERTS_ALIAS, COMMUNICATIONS_ALIAS, DEADLETTER_ALIAS, create_client
from streams.topics import COMMUNICATIONS, DEADLETTER, SCORED
from tests.conftest import free_port
from tests.integration import test_alerts as alerts_case
from tests.integration.support import indexed, read_topic, send_events, send_raw, wait_until

SNAPSHOT_INTERVAL_S = "2"


def run_crmstream(
    env: dict[str, str], log_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run a crmstream command; its output is kept in ``log_dir`` for the secret scan."""
    result = subprocess.run(
        [sys.executable, "-m", "crmstream", *args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    what = "-".join(arg for arg in args[:2] if arg.isalnum())
    (log_dir / f"{what}-{uuid.uuid4().hex[:6]}.out").write_text(result.stdout + result.stderr)
    return result


@dataclass(frozen=True)
class SecuredStack:
    env: dict[str, str]  # the environment of a crmstream process pointed at the stack
    settings: Settings  # the same, for this test process
    state_dir: Path
    log_dir: Path

    def crmstream(self, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return run_crmstream({**self.env, **overrides}, self.log_dir, *args)

    def worker(self, name: str, **overrides: str) -> WorkerProcess:
        port, learner_port = free_port(), free_port()
        process = WorkerProcess(
            {
                **self.env,
                "CRMSTREAM_WORKER_WEB_PORT": str(port),
                "CRMSTREAM_LEARNER_WEB_PORT": str(learner_port),
                "CRMSTREAM_BATCH_MAX_WAIT_S": "0.5",
                "CRMSTREAM_MODEL_SNAPSHOT_INTERVAL_S": SNAPSHOT_INTERVAL_S,
                **overrides,
            },
            self.log_dir / f"{name}.log",
            web_port=port,
            learner_port=learner_port,
        )
        process.start()
        return process


def bundle_version(worker: WorkerProcess) -> float:
    return worker.metric("crmstream_model_version", role="scorer", model="bundle") or 0.0


def ready(worker: WorkerProcess) -> bool:
    """/readyz answers 200 (its Elasticsearch check works with least-privilege credentials)."""
    url = worker.metrics_url.replace("/metrics", "/readyz")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def settings_from(env: dict[str, str]) -> Settings:
    prefix = "CRMSTREAM_"
    return Settings.model_validate({k.removeprefix(prefix).lower(): v for k, v in env.items()})


@pytest.fixture(scope="session")
def secured_stack() -> Iterator[SecuredStack]:
    # Elasticsearch runs as an unprivileged user when we are root: the folder must be
    # traversable, which pytest's private tmp folders are not.
    state = Path(tempfile.mkdtemp(prefix="crmstream-secured-", dir="/tmp"))
    state.chmod(0o755)
    log_dir = state / "test-logs"
    log_dir.mkdir()
    base = {key: value for key, value in os.environ.items() if not key.startswith("CRMSTREAM_")}
    stack_env = {
        **base,
        "CRMSTREAM_LOCAL_SECURITY": "true",
        "CRMSTREAM_STATE_DIR": str(state / "servers"),
        "CRMSTREAM_NAMESPACE": f"s{uuid.uuid4().hex[:10]}",
        "CRMSTREAM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "CRMSTREAM_ELASTICSEARCH_URL": f"https://127.0.0.1:{free_port()}",
        "CRMSTREAM_ELASTICSEARCH_HEAP": "512m",
        "CRMSTREAM_KAFKA_HEAP": "512m",
        "COLUMNS": "200",
    }
    try:
        up = run_crmstream(stack_env, log_dir, "infra", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        client_env = parse_env_file(env_file(settings_from(stack_env)).read_text())
        yield SecuredStack({**stack_env, **client_env}, settings_from(client_env), state, log_dir)
    finally:
        run_crmstream(stack_env, log_dir, "infra", "down")
        kept = os.environ.get("CRMSTREAM_TEST_LOG_DIR")  # as the session worker's log (conftest)
        if kept:
            shutil.copytree(log_dir, Path(kept) / f"secured-{stack_env['CRMSTREAM_NAMESPACE']}")
        shutil.rmtree(state, ignore_errors=True)


# -- the demo flow ---------------------------------------------------------------------------


def test_events_flow_through_secured_kafka_and_elasticsearch(
    secured_stack: SecuredStack, tmp_path: Path
) -> None:
    """Events in, scored records out, documents searchable, an alert fired, a model
    snapshot published and restored by a new worker: all over verified TLS, with
    the generated credentials and nothing else."""
    settings = secured_stack.settings
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.elasticsearch_url.startswith("https://")
    assert settings.kafka_ssl_cafile is not None and settings.elasticsearch_ca_certs is not None
    rules = tmp_path / "alerts.yml"
    rules.write_text(alerts_case.RULES)
    generator = EventGenerator(
        seed=1, agents=3, customers=200, start=alerts_case.T0, incidents=[alerts_case.INCIDENT]
    )
    events = list(generator.events(5000))
    sent: list[str] = []
    worker = secured_stack.worker("flow-1", CRMSTREAM_ALERT_RULES_FILE=str(rules))
    try:
        for chunk in alerts_case.chunks(events):
            send_events(settings, chunk)
            sent += [e.value["event_id"] for e in chunk if e.kind == "communication"]
            wait_until(
                lambda: alerts_case.caught_up(settings),
                timeout_s=120,
                what="catching up",
                explain=worker.log_tail,
            )
            if any(a["state"] == "firing" for a in alerts_case.agent_alerts(settings)):
                break
        wait_until(lambda: ready(worker), timeout_s=60, what="/readyz 200")
        (firing,) = [a for a in alerts_case.agent_alerts(settings) if a["state"] == "firing"]
        assert firing["key"] == "agent-003"

        found = indexed(settings, sent)
        assert set(found) == set(sent) and all(len(docs) == 1 for docs in found.values())
        assert set(sent) <= {r["event_id"] for r in read_topic(settings, SCORED)}
        client = create_client(settings)
        try:
            result = search(
                client, settings.index_name(COMMUNICATIONS_ALIAS), "refund", SearchFilters()
            )
            assert result.hits and {h.id for h in result.hits} <= set(sent)
            alias = settings.index_name(ALERTS_ALIAS)
            client.indices.refresh(index=alias)
            ids = {h["_id"] for h in client.search(index=alias, size=20)["hits"]["hits"]}
            assert f"{firing['alert_id']}:firing" in ids
        finally:
            client.close()

        published = wait_until(
            lambda: bundle_version(worker),
            what="a model snapshot followed by the worker",
        )
    finally:
        assert worker.stop() == 0
    restarted = secured_stack.worker("flow-2", CRMSTREAM_ALERT_RULES_FILE=str(rules))
    try:
        restored = wait_until(
            lambda: bundle_version(restarted),
            what="the snapshot restored by a new worker",
        )
        assert restored >= published
    finally:
        assert restarted.stop() == 0

    # The command line works with the same settings: search through the CLI.
    searched = secured_stack.crmstream("search", "refund")
    assert searched.returncode == 0, searched.stdout + searched.stderr


def test_secrets_are_generated_private_and_outside_the_repository(
    secured_stack: SecuredStack,
) -> None:
    tls = tls_files(secured_stack.settings)
    private = [tls.secrets_file, tls.ca_key, tls.server_key, tls.kafka_keystore]
    private.append(env_file(secured_stack.settings))
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(tls.directory.stat().st_mode) == 0o700
    repository = Path(__file__).resolve().parents[2]
    assert repository not in tls.directory.parents
    status = secured_stack.crmstream("infra", "status")
    assert status.returncode == 0
    assert status.stdout.count("healthy") == 2 and "https://127.0.0.1:" in status.stdout


# -- clear failures at start-up -------------------------------------------------------------------


@dataclass(frozen=True)
class FailedStart:
    returncode: int
    output: str


@pytest.fixture(scope="session")
def failed_starts(secured_stack: SecuredStack) -> dict[str, FailedStart]:
    """Workers started once with each kind of wrong setting (shared with the secret scan)."""
    settings = secured_stack.settings
    wrong_ca = secured_stack.state_dir / "other-ca.crt"
    wrong_ca.write_bytes(certificate_pem(make_ca(datetime.now(UTC), common_name="not ours")[1]))
    # A user whose role has the indices but not the templates' cluster privilege.
    limited_password = secrets.token_urlsafe(24)
    role = {"cluster": [], "indices": [{"names": [settings.index_name("crm-*")],
                                         "privileges": ["read", "write", "manage"]}]}  # fmt: skip
    set_elasticsearch_user(settings, "crmstream-limited", limited_password, "limited", role)
    wait_authenticates(
        elasticsearch_client_settings(settings, "crmstream-limited", limited_password)
    )
    secrets_seen = secured_stack.state_dir / "test-secrets.json"
    cases = {
        "kafka_password": {"CRMSTREAM_KAFKA_SASL_PASSWORD": f"wrong-{secrets.token_urlsafe(16)}"},
        "kafka_ca": {"CRMSTREAM_KAFKA_SSL_CAFILE": str(wrong_ca)},
        "elasticsearch_password": {
            "CRMSTREAM_ELASTICSEARCH_PASSWORD": f"wrong-{secrets.token_urlsafe(16)}"
        },
        "elasticsearch_ca": {"CRMSTREAM_ELASTICSEARCH_CA_CERTS": str(wrong_ca)},
        "elasticsearch_privilege": {
            "CRMSTREAM_ELASTICSEARCH_USERNAME": "crmstream-limited",
            "CRMSTREAM_ELASTICSEARCH_PASSWORD": limited_password,
        },
    }
    # The wrong passwords are secrets too: nothing may print them either.
    write_private(
        secrets_seen,
        json.dumps([v for case in cases.values() for k, v in case.items() if "PASSWORD" in k])
        .encode(),
    )  # fmt: skip
    found = {}
    for name, overrides in cases.items():
        result = secured_stack.crmstream(
            "worker", **overrides, CRMSTREAM_WORKER_WEB_PORT=str(free_port())
        )
        found[name] = FailedStart(result.returncode, result.stdout + result.stderr)
    # The learner (its own process in production) checks Kafka the same way.
    learner = secured_stack.crmstream(
        "learner", **cases["kafka_password"], CRMSTREAM_LEARNER_WEB_PORT=str(free_port())
    )
    found["learner_kafka_password"] = FailedStart(
        learner.returncode, learner.stdout + learner.stderr
    )
    return found


@pytest.mark.parametrize(
    ("case", "setting", "reason"),
    [
        ("kafka_password", "CRMSTREAM_KAFKA_SASL_PASSWORD", "refused the SASL credentials"),
        ("learner_kafka_password", "CRMSTREAM_KAFKA_SASL_PASSWORD", "refused the SASL credentials"),
        ("kafka_ca", "CRMSTREAM_KAFKA_SSL_CAFILE", "certificate was not accepted"),
        ("elasticsearch_password", "CRMSTREAM_ELASTICSEARCH_PASSWORD", "refused the credentials"),
        ("elasticsearch_ca", "CRMSTREAM_ELASTICSEARCH_CA_CERTS", "certificate was not accepted"),
        (
            "elasticsearch_privilege",
            "CRMSTREAM_ELASTICSEARCH_USERNAME",
            "lack cluster: manage_index_templates",
        ),
    ],
)
def test_a_wrong_setting_stops_the_component_with_one_line_naming_it(
    failed_starts: dict[str, FailedStart], case: str, setting: str, reason: str
) -> None:
    failed = failed_starts[case]
    assert failed.returncode == 1, failed.output
    lines = [line for line in failed.output.splitlines() if "not starting:" in line]
    assert len(lines) == 1, failed.output
    assert setting in lines[0] and reason in lines[0], lines[0]
    assert "Traceback" not in failed.output
    assert "retrying" not in failed.output  # no retry loop before giving up


# -- secrets never leave ---------------------------------------------------------------------


def test_no_secret_appears_in_any_log_or_output(
    secured_stack: SecuredStack, failed_starts: dict[str, FailedStart]
) -> None:
    """Run a worker that meets bad input (dead letters), read its and its learner's metrics,
    the infra status, every test output and every server log: no secret anywhere."""
    settings = secured_stack.settings
    worker = secured_stack.worker("scan")
    try:
        bad = [b"not json at all", b'{"event_id": "x", "channel": "fax"}']
        send_raw(settings, COMMUNICATIONS, bad)
        # Good events through the replay command (its output is scanned too).
        rows = secured_stack.state_dir / "rows.jsonl"
        ids = [f"replayed-{n}" for n in range(5)]
        rows.write_text("".join(json.dumps({"id": i, "msg": f"refund {i}"}) + "\n" for i in ids))
        replay = secured_stack.crmstream(
            "replay", str(rows), "--map", "event_id=id", "--map", "text=msg",
            "--set", "customer_id=c1", "--set", "channel=chat", "--set", "direction=inbound",
        )  # fmt: skip
        assert replay.returncode == 0, replay.stdout + replay.stderr
        wait_until(
            lambda: (
                {b.decode() for b in bad}
                <= {r["original"] for r in read_topic(settings, DEADLETTER)}
            ),
            what="the dead letters",
            explain=worker.log_tail,
        )
        wait_until(
            lambda: len(indexed(settings, ids)) == len(ids),
            what="the replayed events",
            explain=worker.log_tail,
        )
        pages = [worker.metrics() or "", worker.metrics(learner=True) or ""]
    finally:
        assert worker.stop() == 0
    assert "crmstream_dead_letters_total" in pages[0]
    client = create_client(settings)
    try:
        alias = settings.index_name(DEADLETTER_ALIAS)
        client.indices.refresh(index=alias)
        letters = client.search(index=alias, size=100)["hits"]["hits"]
    finally:
        client.close()
    status = secured_stack.crmstream("infra", "status")
    assert status.returncode == 0

    outputs: dict[str, str] = {
        "metrics": pages[0],
        "learner metrics": pages[1],
        "dead letters (topic)": json.dumps(read_topic(settings, DEADLETTER)),
        "dead letters (index)": json.dumps(letters),
    }
    servers = Path(secured_stack.env["CRMSTREAM_STATE_DIR"])
    log_files = [*secured_stack.log_dir.iterdir()]
    log_files += [*(servers / "kafka").glob("*.log"), servers / "kafka" / "kafka.out"]
    log_files += [*(servers / "elasticsearch" / "logs").glob("*.log")]
    log_files.append(servers / "elasticsearch" / "elasticsearch.out")
    for path in log_files:
        outputs[str(path)] = path.read_text(errors="replace")
    # What was scanned: every failing start, the worker's log with its dead letters.
    assert len(failed_starts) == 6
    assert sum("not starting:" in text for text in outputs.values()) >= 6
    assert len(letters) >= 2

    tls = tls_files(settings)
    known = list(json.loads(tls.secrets_file.read_text()).values())
    known += json.loads((secured_stack.state_dir / "test-secrets.json").read_text())
    known.append(tls.server_key.read_text().split("-----")[2].strip())
    known.append(tls.ca_key.read_text().split("-----")[2].strip())
    signing_key = settings.state_dir / "model-signing.key"
    if signing_key.exists():
        known.append(signing_key.read_text().strip())
    # The scan itself finds a secret where one is (the client settings file holds one).
    assert any(value in env_file(settings).read_text() for value in known)
    leaks = [
        (where, value[:4] + "…")
        for where, text in outputs.items()
        for value in known
        if value in text
    ]
    assert leaks == []
