"""The secured variant's pure parts: certificates, server settings, files, error messages."""

from __future__ import annotations

import json
import os
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest
import yaml
from aiokafka.errors import SaslAuthenticationFailed
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, TlsError
from elasticsearch import AuthenticationException
from pydantic import SecretStr

from config.settings import Settings
from crmstream.infra import servers
from crmstream.infra.security import (
    KAFKA_ADMIN_USER,
    KAFKA_CLIENT_USER,
    FileRealm,
    Secrets,
    TlsFiles,
    certificate_pem,
    client_environment,
    crmstream_role,
    elasticsearch_security_config,
    ensure_tls_files,
    env_file_text,
    issue_server_certificate,
    kafka_keystore,
    kafka_secret_environment,
    kafka_security_properties,
    key_pem,
    load_or_create_secrets,
    make_ca,
    parse_env_file,
    password_hash,
    scram_user_arguments,
    secured_variant,
    write_private,
)
from streams.access import (
    elasticsearch_access_problem,
    kafka_access_problem,
    missing_privileges,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def handshake(tmp_path: Path, cert: bytes, key: bytes, trusted_ca: bytes, host: str) -> None:
    """A TLS handshake in memory: a server with ``cert``, a client trusting ``trusted_ca``."""
    for name, data in (("s.crt", cert), ("s.key", key), ("ca.crt", trusted_ca)):
        (tmp_path / name).write_bytes(data)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "s.crt", tmp_path / "s.key")
    client_context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    pipes = [ssl.MemoryBIO() for _ in range(4)]
    client = client_context.wrap_bio(pipes[0], pipes[1], server_hostname=host)
    server = server_context.wrap_bio(pipes[2], pipes[3], server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for side, tls in (("client", client), ("server", server)):
            if not done[side]:
                try:
                    tls.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
        pipes[2].write(pipes[1].read())
        pipes[0].write(pipes[3].read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def test_server_certificate_is_trusted_through_its_ca_for_loopback_only(tmp_path: Path) -> None:
    ca_key, ca = make_ca(NOW)
    key, cert = issue_server_certificate(
        ca_key, ca, ["localhost", "127.0.0.1"], not_before=NOW, not_after=NOW + timedelta(days=1)
    )
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert cert.issuer == ca.subject
    # Live handshakes need a certificate valid today.
    today = datetime.now(UTC)
    ca_key, ca = make_ca(today)
    key, cert = issue_server_certificate(
        ca_key, ca, ["localhost", "127.0.0.1"], not_before=today - timedelta(hours=1),
        not_after=today + timedelta(days=1),
    )  # fmt: skip
    handshake(tmp_path, certificate_pem(cert), key_pem(key), certificate_pem(ca), "127.0.0.1")
    handshake(tmp_path, certificate_pem(cert), key_pem(key), certificate_pem(ca), "localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        handshake(tmp_path, certificate_pem(cert), key_pem(key), certificate_pem(ca), "10.0.0.1")
    _, other_ca = make_ca(today)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(
            tmp_path, certificate_pem(cert), key_pem(key), certificate_pem(other_ca), "127.0.0.1"
        )


def test_an_expired_server_certificate_is_refused(tmp_path: Path) -> None:
    today = datetime.now(UTC)
    ca_key, ca = make_ca(today - timedelta(days=30))
    key, cert = issue_server_certificate(
        ca_key, ca, ["127.0.0.1"], not_before=today - timedelta(days=20),
        not_after=today - timedelta(days=1),
    )  # fmt: skip
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
        handshake(tmp_path, certificate_pem(cert), key_pem(key), certificate_pem(ca), "127.0.0.1")


def test_kafka_keystore_holds_the_key_and_chain_behind_its_password() -> None:
    ca_key, ca = make_ca(NOW)
    key, cert = issue_server_certificate(
        ca_key, ca, ["127.0.0.1"], not_before=NOW, not_after=NOW + timedelta(days=1)
    )
    store = kafka_keystore(key, cert, ca, "pw-1")
    loaded_key, loaded_cert, chain = pkcs12.load_key_and_certificates(store, b"pw-1")
    assert loaded_cert == cert and chain == [ca]
    assert loaded_key is not None and key_pem(loaded_key) == key_pem(key)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid password"):
        pkcs12.load_key_and_certificates(store, b"wrong")


def test_secret_files_are_private_and_generated_once(tmp_path: Path) -> None:
    tls = TlsFiles(tmp_path / "secrets")
    first = load_or_create_secrets(tls)
    assert load_or_create_secrets(tls) == first
    assert len(set(first.values())) == len(first.values())  # every password its own
    assert all(len(value) >= 32 for value in first.values())
    ensure_tls_files(tls, first.keystore_password, ["localhost", "127.0.0.1"])
    assert stat.S_IMODE(tls.directory.stat().st_mode) == 0o700
    for path in (tls.secrets_file, tls.ca_key, tls.server_key, tls.kafka_keystore):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    keystore = tls.kafka_keystore.read_bytes()
    ensure_tls_files(
        tls, first.keystore_password, ["localhost"]
    )  # once: an existing set-up keeps its certificates
    assert tls.kafka_keystore.read_bytes() == keystore


def test_write_private_narrows_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(os.stat(path).st_mode) == 0o600


SECRETS = Secrets("admin-pw", "client-pw", "elastic-pw", "es-client-pw", "store-pw")


def test_kafka_listens_for_clients_on_sasl_ssl_only_with_no_secret_in_its_properties() -> None:
    properties = kafka_security_properties(
        "127.0.0.1", 9192, 10192, Path("/s/kafka.p12"), Path("/s/ca.crt")
    )
    protocols = dict(p.split(":") for p in properties["listener.security.protocol.map"].split(","))
    assert protocols == {"SASL_SSL": "SASL_SSL", "CONTROLLER": "SSL"}
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert properties["inter.broker.listener.name"] == "SASL_SSL"
    assert properties["listener.name.controller.ssl.client.auth"] == "required"
    jaas = properties["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert f'username="{KAFKA_ADMIN_USER}" password="${{env:KAFKA_ADMIN_PASSWORD}}"' in jaas
    assert properties["ssl.endpoint.identification.algorithm"] == "https"
    environment = kafka_secret_environment(SECRETS)
    assert environment == {
        "KAFKA_ADMIN_PASSWORD": "admin-pw",
        "KAFKA_KEYSTORE_PASSWORD": "store-pw",
    }
    text = "".join(f"{k}={v}" for k, v in properties.items())
    assert not any(secret in text for secret in SECRETS.values())
    for name in environment:  # every secret the broker needs is referenced
        assert f"${{env:{name}}}" in text


def test_scram_users_are_created_at_format_time() -> None:
    assert scram_user_arguments(SECRETS) == [
        "--add-scram", f"SCRAM-SHA-512=[name={KAFKA_ADMIN_USER},password=admin-pw]",
        "--add-scram", f"SCRAM-SHA-512=[name={KAFKA_CLIENT_USER},password=client-pw]",
    ]  # fmt: skip


def test_elasticsearch_runs_with_security_and_tls_on_http() -> None:
    config = elasticsearch_security_config()
    assert config["xpack.security.enabled"] is True
    assert config["xpack.security.http.ssl.enabled"] is True
    assert config["xpack.security.http.ssl.certificate_authorities"] == ["crmstream-tls/ca.crt"]
    # Written with yaml.safe_dump: no anchors the node would read as file names.
    assert "&id" not in yaml.safe_dump(config)


def test_crmstream_role_is_its_own_indices_and_the_templates() -> None:
    role = crmstream_role(Settings(namespace="blue"))
    assert role == {
        "cluster": ["manage_index_templates"],
        "indices": [{"names": ["blue-crm-*"], "privileges": ["read", "write", "manage"]}],
    }


def test_file_realm_round_trips_and_adds_users() -> None:
    realm = FileRealm({}, {}, {}).with_user("crmstream", password_hash("pw"), "crm", {"a": 1})
    realm = realm.with_user("reader", "h2", "crm", {"a": 1})
    again = FileRealm.parse(*(realm.files()[n] for n in ("users", "users_roles", "roles.yml")))
    assert again == realm
    assert again.user_roles == {"crmstream": "crm", "reader": "crm"}
    assert bcrypt.checkpw(b"pw", again.users["crmstream"].encode())
    assert not bcrypt.checkpw(b"other", again.users["crmstream"].encode())


def test_client_environment_gives_settings_that_verify_and_authenticate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = secured_variant(Settings(namespace="ns", state_dir=Path("/state")))
    env = client_environment(base, TlsFiles(Path("/state/secrets")), SECRETS)
    parsed = parse_env_file(env_file_text(env))
    assert parsed == env
    for key, value in parsed.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_sasl_password == SecretStr("client-pw")
    assert settings.kafka_ssl_cafile == Path("/state/secrets/ca.crt")
    assert settings.elasticsearch_url.startswith("https://")
    assert settings.elasticsearch_ca_certs == Path("/state/secrets/ca.crt")
    assert settings.elasticsearch_password == SecretStr("es-client-pw")
    assert settings.local_security and settings.state_dir == Path("/state/secured")
    # No admin secret reaches the client.
    assert not {"admin-pw", "elastic-pw", "store-pw"} & set(parsed.values())


def test_secured_variant_has_its_own_ports_state_and_servers() -> None:
    plain = Settings(state_dir=Path("/state"))
    secured = secured_variant(plain)
    assert secured.state_dir == Path("/state/secured")
    assert secured.kafka_bootstrap_servers != plain.kafka_bootstrap_servers
    assert secured.elasticsearch_url.startswith("https://127.0.0.1:")
    assert [s.name for s in servers(secured)] == ["kafka", "elasticsearch"]
    assert [type(s).__name__ for s in servers(secured)] == [
        "SecuredKafkaServer",
        "SecuredElasticsearchServer",
    ]


KAFKA = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="crmstream")


def test_kafka_errors_name_the_setting_to_fix() -> None:
    wrong_password = kafka_access_problem(KAFKA, SaslAuthenticationFailed("invalid credentials"))
    assert wrong_password is not None and "CRMSTREAM_KAFKA_SASL_PASSWORD" in wrong_password
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_message = "self-signed certificate in certificate chain"
    message = kafka_access_problem(KAFKA, untrusted)
    assert message is not None and "CRMSTREAM_KAFKA_SSL_CAFILE" in message
    assert "self-signed certificate in certificate chain" in message
    assert kafka_access_problem(KAFKA, ConnectionRefusedError()) is None
    assert kafka_access_problem(KAFKA, TimeoutError()) is None


def test_elasticsearch_errors_name_the_setting_to_fix() -> None:
    meta = ApiResponseMeta(401, "1.1", HttpHeaders(), 0.0, NodeConfig("https", "h", 1))
    refused = AuthenticationException("security_exception", meta=meta, body={})
    with_key = Settings(elasticsearch_api_key="k")
    assert "CRMSTREAM_ELASTICSEARCH_API_KEY" in str(elasticsearch_access_problem(with_key, refused))
    with_user = Settings(elasticsearch_username="u", elasticsearch_password="p")
    assert "CRMSTREAM_ELASTICSEARCH_PASSWORD" in str(
        elasticsearch_access_problem(with_user, refused)
    )
    tls = TlsError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has "
                   "expired (_ssl.c:1006)")  # fmt: skip
    message = elasticsearch_access_problem(with_user, tls)
    assert message is not None and "certificate has expired" in message
    assert "CRMSTREAM_ELASTICSEARCH_CA_CERTS" in message
    assert elasticsearch_access_problem(with_user, ConnectionRefusedError()) is None


def test_missing_privileges_lists_only_what_is_false() -> None:
    answer = {
        "has_all_requested": False,
        "cluster": {"manage_index_templates": True},
        "index": {"ns-crm-*": {"read": True, "write": True, "manage": False}},
    }
    assert missing_privileges(answer) == ["ns-crm-*: manage"]
    answer["index"]["ns-crm-*"]["manage"] = True  # type: ignore[index]
    assert missing_privileges(answer) == []


def test_certs_command_writes_certificates_for_servers_run_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from crmstream.cli import app

    out = tmp_path / "tls"
    runner = CliRunner()
    refused = runner.invoke(app, ["infra", "certs", str(out), "--host", "kafka"])
    assert refused.exit_code != 0 and not out.exists()  # no keystore password, no files

    monkeypatch.setenv("KAFKA_KEYSTORE_PASSWORD", "store-pw")
    args = ["infra", "certs", str(out), "--host", "kafka", "--host", "elasticsearch"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    tls = TlsFiles(out)
    cert = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kafka", "elasticsearch"]
    _, stored, _ = pkcs12.load_key_and_certificates(tls.kafka_keystore.read_bytes(), b"store-pw")
    assert stored == cert
    assert stat.S_IMODE(tls.server_key.stat().st_mode) == 0o600
    assert runner.invoke(app, args).exit_code == 0  # again: the same files are kept
    assert x509.load_pem_x509_certificate(tls.server_cert.read_bytes()) == cert


def test_role_command_prints_an_api_key_request_with_the_least_privileges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from config.settings import get_settings
    from crmstream.cli import app

    monkeypatch.setenv("CRMSTREAM_NAMESPACE", "blue")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["infra", "role"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body == {
        "name": "crmstream-blue",
        "role_descriptors": {"crmstream": crmstream_role(Settings(namespace="blue"))},
    }


REPOSITORY = Path(__file__).resolve().parents[2]


def properties_file(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_compose_kafka_has_the_same_security_as_the_local_secured_one() -> None:
    compose = properties_file(REPOSITORY / "config" / "kafka" / "secured.properties")
    local = kafka_security_properties(
        "kafka", 9093, 9095, Path("/etc/kafka/tls/kafka.p12"), Path("/etc/kafka/tls/ca.crt")
    )
    for key, value in local.items():
        if key.startswith("listener.name.sasl_ssl."):  # per listener there: internal, external
            for listener in ("internal", "external"):
                assert compose[key.replace("sasl_ssl", listener)] == value
        elif "listener" not in key or key.startswith("listener.name.controller."):
            assert compose[key] == value, key
    assert compose["inter.broker.listener.name"] == "INTERNAL"
    protocols = dict(p.split(":") for p in compose["listener.security.protocol.map"].split(","))
    assert protocols == {"INTERNAL": "SASL_SSL", "EXTERNAL": "SASL_SSL", "CONTROLLER": "SSL"}
    client = properties_file(REPOSITORY / "config" / "kafka" / "client.properties")
    assert client["security.protocol"] == "SASL_SSL" and client["sasl.mechanism"] == "SCRAM-SHA-512"


def test_compose_is_secured_with_secrets_from_the_environment_only() -> None:
    compose = yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text())
    services = compose["services"]
    worker = services["worker"]["environment"]
    assert worker["CRMSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert worker["CRMSTREAM_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert worker["CRMSTREAM_ELASTICSEARCH_URL"].startswith("https://")
    assert worker["CRMSTREAM_KAFKA_SSL_CAFILE"] == worker["CRMSTREAM_ELASTICSEARCH_CA_CERTS"]
    es = services["elasticsearch"]["environment"]
    assert (
        es["xpack.security.enabled"] == "true" and es["xpack.security.http.ssl.enabled"] == "true"
    )
    for service in services.values():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "API_KEY", "TOKEN", "SIGNING_KEY")):
                assert str(value).startswith("${") and ":?" in str(value), key
    # The generated certificates are mounted, read-only, where they are used.
    for name in ("kafka", "elasticsearch", "kibana", "worker"):
        assert any(v.startswith("tls:") and v.endswith(":ro") for v in services[name]["volumes"])
    assert services["tls-setup"]["command"][:3] == ["crmstream", "infra", "certs"]
