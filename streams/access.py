"""What crmstream needs from a secured cluster, and a start-up check that it has it.

A wrong password, an untrusted or expired certificate or credentials without a
needed privilege must stop a component at start-up with one line that names
the setting to fix, not send it into a retry loop. :func:`check_access` makes one
connection to Kafka and one request to Elasticsearch and says exactly that;
a server that is simply not up yet is not its business (the caller's retries are).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka.errors import SaslAuthenticationFailed
from elastic_transport import TlsError
from elastic_transport import TransportError as ElasticTransportError
from elasticsearch import ApiError, AuthenticationException

from config.settings import Settings
from crmstream.errors import CrmstreamError

#: Cluster privileges: installing crmstream's index templates, nothing more.
CLUSTER_PRIVILEGES = ("manage_index_templates",)
#: Index privileges on crmstream's own indices and aliases: write documents, create and
#: manage its indices (aliases come with them), read them for search.
INDEX_PRIVILEGES = ("read", "write", "manage")


class AccessError(CrmstreamError, RuntimeError):
    """The servers refused crmstream's credentials or certificates: a setting must change."""


def required_cluster_privileges() -> tuple[str, ...]:
    return CLUSTER_PRIVILEGES


def required_index_privileges(settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The index pattern of crmstream's indices and aliases, and the privileges on it.

    >>> required_index_privileges(Settings(namespace="ns"))
    ('ns-crm-*', ('read', 'write', 'manage'))
    >>> required_index_privileges(Settings())[0]
    'crm-*'
    """
    return settings.index_name("crm-*"), INDEX_PRIVILEGES


# -- pure: what an error means --------------------------------------------------------------


def _certificate_problem(error: BaseException) -> str | None:
    if isinstance(error, ssl.SSLCertVerificationError):
        return str(error.verify_message or error.reason or "certificate verify failed")
    # elastic_transport's TlsError carries the ssl module's message as its first argument.
    text = " ".join(str(part) for part in (*error.args, error))
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return text.split("certificate verify failed: ", 1)[-1].split(" (_ssl.c")[0]
    return None


def kafka_access_problem(settings: Settings, error: BaseException) -> str | None:
    """The one-line message for a Kafka connection error caused by a setting, else None.

    >>> s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512")
    >>> print(kafka_access_problem(s, SaslAuthenticationFailed("invalid credentials")))
    ... # doctest: +NORMALIZE_WHITESPACE
    Kafka refused the SASL credentials of user None (SCRAM-SHA-512):
    check CRMSTREAM_KAFKA_SASL_PASSWORD and CRMSTREAM_KAFKA_SASL_USERNAME
    >>> kafka_access_problem(s, ConnectionRefusedError()) is None
    True
    """
    if isinstance(error, SaslAuthenticationFailed):
        return (
            f"Kafka refused the SASL credentials of user {settings.kafka_sasl_username!r} "
            f"({settings.kafka_sasl_mechanism}): check CRMSTREAM_KAFKA_SASL_PASSWORD "
            f"and CRMSTREAM_KAFKA_SASL_USERNAME"
        )
    problem = _certificate_problem(error)
    if problem is not None:
        return (
            f"Kafka's TLS certificate was not accepted ({problem}): check "
            f"CRMSTREAM_KAFKA_SSL_CAFILE ({settings.kafka_ssl_cafile or 'unset: system CAs'})"
        )
    return None


def _credential_settings(settings: Settings) -> str:
    if settings.elasticsearch_api_key is not None:
        return "CRMSTREAM_ELASTICSEARCH_API_KEY"
    return "CRMSTREAM_ELASTICSEARCH_USERNAME and CRMSTREAM_ELASTICSEARCH_PASSWORD"


def elasticsearch_access_problem(settings: Settings, error: BaseException) -> str | None:
    """The one-line message for an Elasticsearch error caused by a setting, else None.

    >>> elasticsearch_access_problem(Settings(), TlsError("[SSL: CERTIFICATE_VERIFY_FAILED] "
    ...     "certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)"))
    ... # doctest: +NORMALIZE_WHITESPACE
    "Elasticsearch's TLS certificate was not accepted (unable to get local issuer certificate):
     check CRMSTREAM_ELASTICSEARCH_CA_CERTS (unset: system CAs)"
    """
    if isinstance(error, AuthenticationException):
        return (
            f"Elasticsearch refused the credentials (401): check {_credential_settings(settings)}"
        )
    problem = _certificate_problem(error)
    if isinstance(error, TlsError) and problem is not None:
        return (
            f"Elasticsearch's TLS certificate was not accepted ({problem}): check "
            f"CRMSTREAM_ELASTICSEARCH_CA_CERTS "
            f"({settings.elasticsearch_ca_certs or 'unset: system CAs'})"
        )
    return None


def missing_privileges(response: dict[str, Any]) -> list[str]:
    """The privileges a ``_security/user/_has_privileges`` answer says are missing.

    >>> missing_privileges({"cluster": {"manage_index_templates": False},
    ...                     "index": {"ns-crm-*": {"read": True, "write": False}}})
    ['cluster: manage_index_templates', 'ns-crm-*: write']
    """
    missing = [f"cluster: {name}" for name, ok in response.get("cluster", {}).items() if not ok]
    for index, privileges in response.get("index", {}).items():
        missing += [f"{index}: {name}" for name, ok in privileges.items() if not ok]
    return missing


# -- I/O: the checks -------------------------------------------------------------------------------


async def check_kafka_access(settings: Settings, timeout_s: float = 30.0) -> None:
    """One connection to the first bootstrap server with our TLS and SASL settings.

    Raises :class:`AccessError` when the broker refuses a setting; returns when it
    accepts them or cannot be reached at all (not up yet: the caller retries).
    """
    from aiokafka.conn import create_conn

    from streams.kafka import client_options

    options = client_options(settings)
    options.pop("bootstrap_servers")
    host, _, port = settings.kafka_bootstrap_servers.split(",")[0].strip().rpartition(":")
    try:
        connection = await asyncio.wait_for(
            create_conn(host.strip("[]"), int(port), **options), timeout_s
        )
    except (OSError, TimeoutError, SaslAuthenticationFailed) as error:
        problem = kafka_access_problem(settings, error)
        if problem is not None:
            raise AccessError(problem) from None
        return
    connection.close()


def check_elasticsearch_access(settings: Settings) -> None:
    """Authenticate, then ask whether our credentials hold every privilege crmstream needs.

    Skipped for a plain-HTTP node without credentials (security off, as the local one).
    """
    from streams.search_index import create_client

    has_credentials = settings.elasticsearch_api_key is not None or bool(
        settings.elasticsearch_username
    )
    if not has_credentials and not settings.elasticsearch_url.startswith("https:"):
        return
    client = create_client(settings, retries=0)
    pattern, privileges = required_index_privileges(settings)
    try:
        client.security.authenticate()
        answer: Any = client.security.has_privileges(
            cluster=list(required_cluster_privileges()),
            index=[{"names": [pattern], "privileges": list(privileges)}],
        )
    except (ApiError, ElasticTransportError) as error:
        problem = elasticsearch_access_problem(settings, error)
        if problem is not None:
            raise AccessError(problem) from None
        return
    finally:
        client.close()
    missing = missing_privileges(dict(answer))
    if missing:
        raise AccessError(
            f"the Elasticsearch credentials lack {', '.join(missing)}: grant them to the "
            f"user or API key in {_credential_settings(settings)}"
        )


def check_access(settings: Settings) -> None:
    """Both checks; raises :class:`AccessError` with one line naming the setting to fix."""
    asyncio.run(check_kafka_access(settings))
    check_elasticsearch_access(settings)
