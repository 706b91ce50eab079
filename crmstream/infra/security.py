"""The secured local variant: a CA and server certificates, SCRAM users, crmstream's role.

``crmstream infra up --secured`` (or ``CRMSTREAM_LOCAL_SECURITY=true``) runs Kafka
with a ``SASL_SSL`` listener (SCRAM-SHA-512, users created when the node is
formatted) and Elasticsearch with security on and TLS on HTTP. Everything secret
is generated at set-up into the state folder, never into the repository:

- ``secrets/`` (0700): the CA, the server certificate and key, Kafka's keystore,
  and ``secrets.json`` (0600) with the generated passwords;
- ``crmstream.env`` (0600): the ``CRMSTREAM_*`` variables a client needs (Kafka
  user and password, the CA, the Elasticsearch user holding crmstream's role with
  its least privileges). Source it (``set -a; . crmstream.env; set +a``) and run
  crmstream.

The builders here are pure (unit-tested); the file writing is in the last section,
the servers and network calls in :mod:`crmstream.infra.secured`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shlex
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr

from config.settings import Settings
from streams.access import required_cluster_privileges, required_index_privileges

#: The Kafka user the broker itself authenticates as (inter-broker traffic).
KAFKA_ADMIN_USER = "crmstream-admin"
#: The Kafka user crmstream's clients authenticate as.
KAFKA_CLIENT_USER = "crmstream"
#: Elasticsearch's built-in superuser; its password is the keystore's bootstrap.password.
ELASTIC_USER = "elastic"
#: crmstream's Elasticsearch user and role (file realm: this distribution has no
#: analysis-common module, so it cannot create the .security index that API keys need).
ELASTICSEARCH_CLIENT_USER = "crmstream"
ELASTICSEARCH_CLIENT_ROLE = "crmstream"
SCRAM_MECHANISM = "SCRAM-SHA-512"
#: Where ``--secured`` puts its servers: its own ports and state folder, beside the plain ones.
SECURED_KAFKA_PORT = 9192
SECURED_ELASTICSEARCH_PORT = 9201
SECURED_STATE_SUBDIR = "secured"
CERTIFICATE_DAYS = 365
ENV_FILE = "crmstream.env"


@dataclass(frozen=True)
class Secrets:
    """The generated passwords of one secured set-up (``secrets/secrets.json``)."""

    kafka_admin_password: str
    kafka_client_password: str
    elastic_password: str
    elasticsearch_client_password: str
    keystore_password: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(*(secrets.token_urlsafe(24) for _ in range(5)))

    def values(self) -> list[str]:
        return list(asdict(self).values())


@dataclass(frozen=True)
class TlsFiles:
    """Where one secured set-up keeps its certificates and keys."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def kafka_keystore(self) -> Path:
        return self.directory / "kafka.p12"

    @property
    def secrets_file(self) -> Path:
        return self.directory / "secrets.json"


# -- pure: certificates ----------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "crmstream local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    now: datetime, *, days: int = CERTIFICATE_DAYS, common_name: str = "crmstream local CA"
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed certificate authority (P-256), valid from ``now`` for ``days``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue_server_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: list[str],
    *,
    not_before: datetime,
    not_after: datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A server (and client, for the broker's own connections) certificate for ``hosts``."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([_alt_name(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM (the files holding it are 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def kafka_keystore(
    key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
    ca_cert: x509.Certificate,
    password: str,
) -> bytes:
    """A PKCS#12 keystore with the server key and its chain, for the broker."""
    return pkcs12.serialize_key_and_certificates(
        b"kafka",
        key,
        certificate,
        [ca_cert],
        serialization.BestAvailableEncryption(password.encode()),
    )


# -- pure: server configuration ------------------------------------------------------------


def scram_user_arguments(secrets_: Secrets) -> list[str]:
    """``kafka-storage format`` arguments creating the broker's and crmstream's SCRAM users."""
    return [
        argument
        for user, password in (
            (KAFKA_ADMIN_USER, secrets_.kafka_admin_password),
            (KAFKA_CLIENT_USER, secrets_.kafka_client_password),
        )
        for argument in ("--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]")
    ]


#: The environment variables the broker reads its passwords from (Kafka's
#: EnvVarConfigProvider): server.properties itself holds no secret.
KAFKA_ADMIN_PASSWORD_ENV = "KAFKA_ADMIN_PASSWORD"
KAFKA_KEYSTORE_PASSWORD_ENV = "KAFKA_KEYSTORE_PASSWORD"
ENV_CONFIG_PROVIDER = "org.apache.kafka.common.config.provider.EnvVarConfigProvider"


def kafka_security_properties(
    host: str, port: int, controller_port: int, keystore: Path, ca_cert: Path
) -> dict[str, str]:
    """Broker properties: clients on SASL_SSL (SCRAM), the controller on mutual TLS.

    Passwords are references to the broker's environment (:func:`kafka_secret_environment`).

    >>> p = kafka_security_properties("127.0.0.1", 9192, 10192, Path("/k.p12"), Path("/ca.crt"))
    >>> p["listeners"], p["listener.security.protocol.map"], p["ssl.keystore.password"]
    ('SASL_SSL://127.0.0.1:9192,CONTROLLER://127.0.0.1:10192', \
'SASL_SSL:SASL_SSL,CONTROLLER:SSL', '${env:KAFKA_KEYSTORE_PASSWORD}')
    """
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{KAFKA_ADMIN_USER}" password="${{env:{KAFKA_ADMIN_PASSWORD_ENV}}}";'
    )
    keystore_password = f"${{env:{KAFKA_KEYSTORE_PASSWORD_ENV}}}"
    return {
        "config.providers": "env",
        "config.providers.env.class": ENV_CONFIG_PROVIDER,
        "listeners": f"SASL_SSL://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"SASL_SSL://{host}:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
        f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": jaas,
        # The controller listener takes only peers with a certificate from our CA.
        "listener.name.controller.ssl.client.auth": "required",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(keystore),
        "ssl.keystore.password": keystore_password,
        "ssl.key.password": keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca_cert),
        "ssl.endpoint.identification.algorithm": "https",
    }


def kafka_secret_environment(secrets_: Secrets) -> dict[str, str]:
    """The broker's passwords, for its process environment only."""
    return {
        KAFKA_ADMIN_PASSWORD_ENV: secrets_.kafka_admin_password,
        KAFKA_KEYSTORE_PASSWORD_ENV: secrets_.keystore_password,
    }


#: Where Elasticsearch finds the certificates (it reads TLS files only inside its config folder).
#: Not ``certs``: the node's security auto-configuration owns (and deletes) that name.
ELASTICSEARCH_CERTS_DIR = "crmstream-tls"


def elasticsearch_security_config() -> dict[str, Any]:
    """elasticsearch.yml settings: security on, TLS on HTTP and transport (PEM files).

    >>> c = elasticsearch_security_config()
    >>> c["xpack.security.enabled"], c["xpack.security.http.ssl.enabled"]
    (True, True)
    """
    config: dict[str, Any] = {"xpack.security.enabled": True}
    for layer in ("http", "transport"):
        prefix = f"xpack.security.{layer}.ssl"
        config[f"{prefix}.enabled"] = True
        config[f"{prefix}.key"] = f"{ELASTICSEARCH_CERTS_DIR}/server.key"
        config[f"{prefix}.certificate"] = f"{ELASTICSEARCH_CERTS_DIR}/server.crt"
        config[f"{prefix}.certificate_authorities"] = [f"{ELASTICSEARCH_CERTS_DIR}/ca.crt"]
    config["xpack.security.transport.ssl.verification_mode"] = "full"
    return config


def crmstream_role(settings: Settings) -> dict[str, Any]:
    """crmstream's role: its own indices and aliases, and the templates; nothing else.

    The same descriptor serves a file-realm role (the local variant) and an API key's
    ``role_descriptors`` (a production cluster; see the README).

    >>> crmstream_role(Settings(namespace="ns"))
    {'cluster': ['manage_index_templates'], 'indices': [{'names': ['ns-crm-*'], \
'privileges': ['read', 'write', 'manage']}]}
    """
    pattern, privileges = required_index_privileges(settings)
    return {
        "cluster": list(required_cluster_privileges()),
        "indices": [{"names": [pattern], "privileges": list(privileges)}],
    }


def password_hash(password: str) -> str:
    """A bcrypt hash for Elasticsearch's file realm (``$2a$``, the prefix it knows).

    >>> import bcrypt
    >>> bcrypt.checkpw(b"pw", password_hash("pw").encode()), password_hash("pw")[:4]
    (True, '$2a$')
    """
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(10, prefix=b"2a")).decode()


@dataclass(frozen=True)
class FileRealm:
    """Elasticsearch's file realm: users (with hashes), their roles, the roles' privileges."""

    users: dict[str, str]  # user -> password hash
    user_roles: dict[str, str]  # user -> role
    roles: dict[str, dict[str, Any]]  # role -> descriptor

    @classmethod
    def parse(cls, users: str, users_roles: str, roles: str) -> FileRealm:
        """Read the realm's three files (``users``, ``users_roles``, ``roles.yml``).

        >>> realm = FileRealm.parse("u:h\\n", "r:u,v\\n", "r: {cluster: []}\\n")
        >>> realm.users, realm.user_roles, realm.roles
        ({'u': 'h'}, {'u': 'r', 'v': 'r'}, {'r': {'cluster': []}})
        """
        found_users = dict(
            line.split(":", 1) for line in users.splitlines() if ":" in line and line[0] != "#"
        )
        found_roles: dict[str, str] = {}
        for line in users_roles.splitlines():
            role, sep, names = line.partition(":")
            if sep and not role.startswith("#"):
                found_roles.update((name.strip(), role.strip()) for name in names.split(","))
        return cls(found_users, found_roles, dict(yaml.safe_load(roles) or {}))

    def with_user(self, user: str, hashed: str, role: str, descriptor: dict[str, Any]) -> FileRealm:
        return FileRealm(
            {**self.users, user: hashed},
            {**self.user_roles, user: role},
            {**self.roles, role: descriptor},
        )

    def files(self) -> dict[str, str]:
        """The three files' text, by file name.

        >>> FileRealm({"u": "h"}, {"u": "r", "v": "r"}, {"r": {"cluster": []}}).files()
        {'users': 'u:h\\n', 'users_roles': 'r:u,v\\n', 'roles.yml': 'r:\\n  cluster: []\\n'}
        """
        by_role: dict[str, list[str]] = {}
        for user, role in self.user_roles.items():
            by_role.setdefault(role, []).append(user)
        return {
            "users": "".join(f"{user}:{hashed}\n" for user, hashed in self.users.items()),
            "users_roles": "".join(
                f"{role}:{','.join(names)}\n" for role, names in by_role.items()
            ),
            "roles.yml": yaml.safe_dump(self.roles, sort_keys=False) if self.roles else "",
        }


def client_environment(settings: Settings, tls: TlsFiles, secrets_: Secrets) -> dict[str, str]:
    """The ``CRMSTREAM_*`` variables that point crmstream at this secured set-up."""
    return {
        "CRMSTREAM_LOCAL_SECURITY": "true",
        "CRMSTREAM_STATE_DIR": str(settings.state_dir),
        "CRMSTREAM_NAMESPACE": settings.namespace,
        "CRMSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "CRMSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CRMSTREAM_KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
        "CRMSTREAM_KAFKA_SASL_USERNAME": KAFKA_CLIENT_USER,
        "CRMSTREAM_KAFKA_SASL_PASSWORD": secrets_.kafka_client_password,
        "CRMSTREAM_KAFKA_SSL_CAFILE": str(tls.ca_cert),
        "CRMSTREAM_ELASTICSEARCH_URL": settings.elasticsearch_url,
        "CRMSTREAM_ELASTICSEARCH_USERNAME": ELASTICSEARCH_CLIENT_USER,
        "CRMSTREAM_ELASTICSEARCH_PASSWORD": secrets_.elasticsearch_client_password,
        "CRMSTREAM_ELASTICSEARCH_CA_CERTS": str(tls.ca_cert),
    }


def env_file_text(env: dict[str, str]) -> str:
    """Shell-sourceable ``KEY=value`` lines (values quoted).

    >>> env_file_text({"A": "x y", "B": "z"})
    "A='x y'\\nB=z\\n"
    """
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in env.items())


def parse_env_file(text: str) -> dict[str, str]:
    """The variables of an :func:`env_file_text` file.

    >>> parse_env_file(env_file_text({"A": "x y", "B": "it's"}))
    {'A': 'x y', 'B': "it's"}
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            (found[key],) = shlex.split(value) or [""]
    return found


def secured_variant(settings: Settings) -> Settings:
    """The settings of ``infra up --secured``: own ports and state folder, security on."""
    return settings.model_copy(
        update={
            "local_security": True,
            "state_dir": settings.state_dir / SECURED_STATE_SUBDIR,
            "kafka_bootstrap_servers": f"127.0.0.1:{SECURED_KAFKA_PORT}",
            "elasticsearch_url": f"https://127.0.0.1:{SECURED_ELASTICSEARCH_PORT}",
        }
    )


def tls_files(settings: Settings) -> TlsFiles:
    return TlsFiles(settings.state_dir / "secrets")


def kafka_admin_settings(settings: Settings, tls: TlsFiles, secrets_: Secrets) -> Settings:
    """The broker's own user, for the infra's health checks."""
    return settings.model_copy(
        update={
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": SCRAM_MECHANISM,
            "kafka_sasl_username": KAFKA_ADMIN_USER,
            "kafka_sasl_password": SecretStr(secrets_.kafka_admin_password),
            "kafka_ssl_cafile": tls.ca_cert,
        }
    )


def elasticsearch_admin_settings(settings: Settings, tls: TlsFiles, secrets_: Secrets) -> Settings:
    """The ``elastic`` superuser, for the health checks."""
    return settings.model_copy(
        update={
            "elasticsearch_api_key": None,
            "elasticsearch_username": ELASTIC_USER,
            "elasticsearch_password": SecretStr(secrets_.elastic_password),
            "elasticsearch_ca_certs": tls.ca_cert,
        }
    )


# -- I/O: files ------------------------------------------------------------------------------


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by its owner only (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(data)


def load_or_create_secrets(tls: TlsFiles) -> Secrets:
    """This set-up's passwords: read back, or generated once (0600)."""
    if tls.secrets_file.exists():
        return Secrets(**json.loads(tls.secrets_file.read_text()))
    tls.directory.mkdir(parents=True, exist_ok=True)
    tls.directory.chmod(0o700)
    generated = Secrets.generate()
    write_private(tls.secrets_file, json.dumps(asdict(generated)).encode())
    return generated


def ensure_tls_files(
    tls: TlsFiles, keystore_password: str, hosts: list[str], *, owner: int | None = None
) -> None:
    """Generate the CA, the server certificate and Kafka's keystore once.

    ``owner``: a user id to hand the files to (servers in containers run as their own).
    """
    if tls.kafka_keystore.exists():
        return
    tls.directory.mkdir(parents=True, exist_ok=True)
    tls.directory.chmod(0o700)
    now = datetime.now(UTC)
    ca_key, ca_cert = make_ca(now)
    key, certificate = issue_server_certificate(
        ca_key,
        ca_cert,
        hosts,
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=CERTIFICATE_DAYS),
    )
    write_private(tls.ca_key, key_pem(ca_key))
    write_private(tls.ca_cert, certificate_pem(ca_cert))
    tls.ca_cert.chmod(0o644)  # public: clients read it
    write_private(tls.server_key, key_pem(key))
    write_private(tls.server_cert, certificate_pem(certificate))
    write_private(tls.kafka_keystore, kafka_keystore(key, certificate, ca_cert, keystore_password))
    if owner is not None:
        for path in (tls.directory, tls.ca_key, tls.ca_cert, tls.server_key, tls.server_cert):
            os.chown(path, owner, -1)
        os.chown(tls.kafka_keystore, owner, -1)


def local_hosts(settings: Settings) -> list[str]:
    """Names the server certificate covers: the configured hosts and loopback."""
    from urllib.parse import urlsplit

    hosts = [
        hp.rsplit(":", 1)[0].strip("[] ") for hp in settings.kafka_bootstrap_servers.split(",")
    ]
    hosts.append(urlsplit(settings.elasticsearch_url).hostname or "")
    hosts += ["localhost", "127.0.0.1", "::1"]
    return list(dict.fromkeys(h for h in hosts if h))
