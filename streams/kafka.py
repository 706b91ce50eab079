"""How every Kafka client of ours connects: one place for TLS and SASL options."""

from __future__ import annotations

import logging
import ssl
from functools import lru_cache
from typing import Any

import faust
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from config.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for Kafka, or ``None`` when the protocol does not use TLS."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    password = settings.kafka_ssl_keyfile_password
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
        certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
        keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
        password=password.get_secret_value() if password else None,
    )
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by aiokafka producers, consumers and admin clients."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=password.get_secret_value() if password else None,
        )
    return options


def faust_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """The same options in the form Faust's ``broker_credentials`` expects."""
    context = ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def broker_url(settings: Settings) -> str:
    """Faust's broker URL list for the bootstrap servers."""
    return ";".join(f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap_servers.split(","))


@lru_cache(maxsize=65_536)
def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record with this key (murmur2,
    as the Java client and aiokafka do), so records routed by hand land where keyed ones do.

    Cached: aiokafka's murmur2 is pure Python (about 3 us a key), and the keys of a
    stream repeat (agents, channels, needs, returning customers and conversations).

    >>> partition_for(b"agent:a17", 6) == partition_for(b"agent:a17", 6) < 6
    True
    """
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def until_sent(
    logger: logging.Logger, errors: tuple[type[BaseException], ...] = (KafkaError,)
) -> AsyncRetrying:
    """Kafka sends retried with backoff, endlessly, while they fail with ``errors`` (each
    retry logged as a warning on ``logger``): a broker away for a while delays the batch,
    it does not lose it."""
    return AsyncRetrying(
        retry=retry_if_exception_type(errors),
        wait=wait_exponential_jitter(initial=0.5, max=30),
        before_sleep=before_sleep_log(logger, logging.WARNING),
        reraise=True,
    )
