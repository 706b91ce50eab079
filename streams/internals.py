"""Other libraries' private internals that crmstream cannot avoid, in one place.

Each function reaches into one undocumented attribute or method and says why no
public way does the job, and which library version it was written against
(faust-streaming 0.15.3, aiokafka 0.14.0, mail-parser-reply 1.36).
After an upgrade, this module and the tests that exercise it are what to check.

Not here, because they are the two modules built on such internals as a whole:
:mod:`streams.offsets` (Faust's offset commits and flow control) and
:mod:`streams.batches` (Faust's buffered batches). Overrides of private methods
stay with their subclasses, named here so an upgrade finds them too:
``PromptFetchConsumerThread._create_worker_consumer`` (:mod:`streams.app`, Faust).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def set_current_event(stream: Any, event: Any) -> None:
    """Make ``event`` the stream's current event.

    faust-streaming 0.15.3: a table write goes to the changelog partition of the
    stream's current event. An agent that takes a batch and writes several keys
    (:mod:`streams.grouping`) must name, per key, the event the key came in;
    ``Stream._set_current_event`` is the only way to say so.
    """
    stream._set_current_event(event)


def set_fetch_max_wait_ms(consumer: Any, wait_ms: int) -> None:
    """Set an aiokafka consumer's broker-side fetch wait before it starts.

    aiokafka 0.14.0 takes ``fetch_max_wait_ms`` only in the constructor, and
    faust-streaming 0.15.3 builds the consumer without passing it (a fixed 1.5 s).
    The attribute is read when the consumer starts and builds its fetcher.
    """
    consumer._fetch_max_wait_ms = wait_ms


def set_producer_buffer_limit(producer: Any, max_messages: int) -> None:
    """Let ``max_messages`` table changes wait for the producer before a stream pauses.

    faust-streaming 0.15.3: ``Producer.buffer`` (a ``ProducerBuffer``) is not
    documented and its ``max_messages`` (100) has no setting.
    """
    producer.buffer.max_messages = max_messages


def prometheus_metrics(monitor: Any) -> Any:
    """The metric objects of Faust's ``PrometheusMonitor``.

    faust-streaming 0.15.3: ``setup_prometheus_sensors`` creates and registers them and
    keeps them only in its monitor's ``_metrics``; a replacement monitor must reuse them
    (registering the same names again would collide).
    """
    return monitor._metrics


async def send_admin_request(admin: Any, request: Any) -> Any:
    """Send ``request`` with an aiokafka admin client to the least loaded broker.

    aiokafka 0.14.0: ``describe_topics`` allows auto-creation; a ``MetadataRequest`` that
    does not create the topics it asks about can only go through ``_send_request``.
    """
    return await admin._send_request(request)


async def send_to_controller(admin: Any, request: Any) -> Any:
    """Send ``request`` with an aiokafka admin client to the cluster's controller.

    aiokafka 0.14.0: crmstream sends its own CreateTopics request (v4 when the broker
    speaks it, :mod:`streams.topics`); the public ``create_topics`` builds its own
    request and sends it with this same private method.
    """
    return await admin._send_to_controller(request)


def admin_request_timeout_ms(admin: Any) -> int:
    """The request timeout an aiokafka 0.14.0 admin client was built with (private)."""
    return int(admin._request_timeout_ms)


def mail_reply_header_regex(languages: Sequence[str]) -> Any:
    """mail-parser-reply's compiled regex of reply headers in ``languages``.

    mail-parser-reply 1.36 builds it as ``EmailMessage.HEADER_REGEX`` and only applies
    it to a whole text at every character; :mod:`streams.normalize` matches it at line
    starts only. Imported when first asked, as :mod:`streams.normalize` did before.
    """
    from mailparser_reply import EmailMessage

    return EmailMessage(text="", languages=list(languages)).HEADER_REGEX
