"""The secured local Kafka and Elasticsearch, and crmstream's client settings for them.

See :mod:`crmstream.infra.security` for what is generated and where.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from config.settings import Settings
from crmstream.infra.errors import InfraError
from crmstream.infra.security import (
    ELASTICSEARCH_CERTS_DIR,
    ELASTICSEARCH_CLIENT_ROLE,
    ELASTICSEARCH_CLIENT_USER,
    ENV_FILE,
    FileRealm,
    Secrets,
    TlsFiles,
    client_environment,
    crmstream_role,
    elasticsearch_admin_settings,
    elasticsearch_security_config,
    ensure_tls_files,
    env_file_text,
    kafka_admin_settings,
    kafka_secret_environment,
    kafka_security_properties,
    load_or_create_secrets,
    local_hosts,
    password_hash,
    scram_user_arguments,
    tls_files,
    write_private,
)
from crmstream.infra.servers import ElasticsearchServer, KafkaServer


def prepare_secrets(settings: Settings) -> tuple[TlsFiles, Secrets]:
    """This set-up's passwords and certificates, generated on first use."""
    tls = tls_files(settings)
    generated = load_or_create_secrets(tls)
    ensure_tls_files(tls, generated.keystore_password, local_hosts(settings))
    return tls, generated


def _existing_secrets(settings: Settings) -> tuple[TlsFiles, Secrets] | None:
    tls = tls_files(settings)
    if not tls.secrets_file.exists() or not tls.ca_cert.exists():
        return None
    return tls, load_or_create_secrets(tls)


class SecuredKafkaServer(KafkaServer):
    """Kafka with clients on SASL_SSL (SCRAM-SHA-512) and the controller on mutual TLS."""

    def listener_properties(self, host: str, port: int, controller_port: int) -> dict[str, str]:
        tls, _ = prepare_secrets(self.settings)
        return kafka_security_properties(
            host, port, controller_port, tls.kafka_keystore, tls.ca_cert
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        args, env = super().command()
        _, generated = prepare_secrets(self.settings)
        return args, {**env, **kafka_secret_environment(generated)}

    def format_arguments(self) -> list[str]:
        _, generated = prepare_secrets(self.settings)
        return scram_user_arguments(generated)

    def probe_settings(self) -> Settings | None:
        found = _existing_secrets(self.settings)
        return None if found is None else kafka_admin_settings(self.settings, *found)


class SecuredElasticsearchServer(ElasticsearchServer):
    """Elasticsearch with security on, TLS on HTTP and transport, ``elastic``'s password set."""

    def security_config(self) -> dict[str, Any]:
        tls, generated = prepare_secrets(self.settings)
        certs = self.distribution / "config" / ELASTICSEARCH_CERTS_DIR
        certs.mkdir(exist_ok=True)
        certs.chmod(0o700)
        for source, name in (
            (tls.ca_cert, "ca.crt"),
            (tls.server_cert, "server.crt"),
            (tls.server_key, "server.key"),
        ):
            write_private(certs / name, source.read_bytes())
        self._set_bootstrap_password(generated.elastic_password)
        return elasticsearch_security_config()

    def _set_bootstrap_password(self, password: str) -> None:
        """``elastic``'s first password, through the keystore (read from stdin, not argv)."""
        tool = str(self.distribution / "bin" / "elasticsearch-keystore")
        env = {**os.environ, "ES_JAVA_HOME": str(self.settings.elasticsearch_java_home)}
        keystore = self.distribution / "config" / "elasticsearch.keystore"
        steps = [([tool, "add", "-x", "-f", "bootstrap.password"], password)]
        if not keystore.exists():
            steps.insert(0, ([tool, "create"], ""))
        # As the keystore's owner: the tool refuses to change it (root runs the node as
        # an unprivileged user, see servers._service_user).
        owner = keystore.stat().st_uid if keystore.exists() else None
        for command, given in steps:
            result = subprocess.run(
                command, input=given, env=env, capture_output=True, text=True, check=False,
                user=owner,
            )  # fmt: skip
            if result.returncode != 0:
                raise InfraError(
                    f"{Path(tool).name} {command[1]} failed: {result.stdout}{result.stderr}"
                )

    def probe_settings(self) -> Settings | None:
        found = _existing_secrets(self.settings)
        return None if found is None else elasticsearch_admin_settings(self.settings, *found)


def env_file(settings: Settings) -> Path:
    return settings.state_dir / ENV_FILE


def set_elasticsearch_user(
    settings: Settings, user: str, password: str, role: str, descriptor: dict[str, Any]
) -> None:
    """Add or update a file-realm user with its own role (the node reloads the files)."""
    config = SecuredElasticsearchServer(settings).distribution / "config"
    names = ("users", "users_roles", "roles.yml")
    current = [(config / name).read_text() if (config / name).exists() else "" for name in names]
    realm = FileRealm.parse(*current).with_user(user, password_hash(password), role, descriptor)
    owner = config.stat().st_uid
    for name, text in realm.files().items():
        # Replaced whole (never half-written while the node reloads it), owned by the node's user.
        partial = config / f".{name}.new"
        write_private(partial, text.encode())
        os.chown(partial, owner, -1)
        partial.replace(config / name)


def elasticsearch_client_settings(settings: Settings, user: str, password: str) -> Settings:
    """``settings`` authenticating to the secured node as ``user``."""
    tls = tls_files(settings)
    return settings.model_copy(
        update={
            "elasticsearch_api_key": None,
            "elasticsearch_username": user,
            "elasticsearch_password": SecretStr(password),
            "elasticsearch_ca_certs": tls.ca_cert,
        }
    )


def _authenticates(settings: Settings) -> bool:
    from elasticsearch import ApiError

    from streams.search_index import create_client

    client = create_client(settings, retries=0)
    try:
        client.security.authenticate()
        return True
    except ApiError:
        return False
    finally:
        client.close()


def wait_authenticates(settings: Settings, timeout_s: float = 60.0) -> None:
    """Wait until the node has reloaded its file realm and knows the user."""
    deadline = time.monotonic() + timeout_s
    while not _authenticates(settings):
        if time.monotonic() > deadline:
            raise InfraError(
                f"Elasticsearch did not accept user {settings.elasticsearch_username!r} "
                f"within {timeout_s:.0f}s of writing its file realm"
            )
        time.sleep(0.5)


def provision_client(settings: Settings) -> Path:
    """Give crmstream its Elasticsearch user and role (this namespace's indices) and
    write ``crmstream.env`` (0600) with everything a client needs; safe to repeat."""
    found = _existing_secrets(settings)
    if found is None:
        raise InfraError(f"no secured set-up in {settings.state_dir}: run crmstream infra up")
    tls, generated = found
    set_elasticsearch_user(
        settings,
        ELASTICSEARCH_CLIENT_USER,
        generated.elasticsearch_client_password,
        ELASTICSEARCH_CLIENT_ROLE,
        crmstream_role(settings),
    )
    wait_authenticates(
        elasticsearch_client_settings(
            settings, ELASTICSEARCH_CLIENT_USER, generated.elasticsearch_client_password
        )
    )
    path = env_file(settings)
    write_private(path, env_file_text(client_environment(settings, tls, generated)).encode())
    return path
