"""The private internals crmstream reaches into still exist and do what it relies on.

An upgrade of faust-streaming, aiokafka, River or mail-parser-reply that moves one of
them fails here, next to :mod:`streams.internals`, not somewhere in a running worker.
"""

from __future__ import annotations

import asyncio

import faust
from aiokafka.admin import AIOKafkaAdminClient
from faust.sensors.prometheus import FaustMetrics

from streams import internals
from streams.app import app, settings


def test_faust_streams_can_be_told_their_current_event() -> None:
    stream = app.stream(app.topic("crmstream-internals-test"))
    assert isinstance(stream, faust.Stream)

    class Event:  # Faust keeps a weak reference to it
        pass

    event: object = Event()
    internals.set_current_event(stream, event)
    try:
        current: object = stream.current_event
        assert current is event
        read: object = faust.current_event()  # what a table write reads
        assert read is event
    finally:
        internals.set_current_event(stream, None)


def test_the_producer_buffer_limit_is_set() -> None:
    internals.set_producer_buffer_limit(app.producer, 4 * settings.batch_max_events)
    assert app.producer.buffer.max_messages == 4 * settings.batch_max_events


def test_the_worker_monitor_reuses_fausts_prometheus_metrics() -> None:
    assert isinstance(internals.prometheus_metrics(app.monitor), FaustMetrics)


def test_the_admin_client_sends_and_times_out_as_crmstream_expects() -> None:
    async def built() -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1", request_timeout_ms=1234)

    admin = asyncio.run(built())  # built, never started
    assert internals.admin_request_timeout_ms(admin) == 1234
    assert callable(admin._send_request) and callable(admin._send_to_controller)


def test_the_mail_reply_header_regex_matches_a_reply_header() -> None:
    regex = internals.mail_reply_header_regex(["en"])
    assert regex.match("On Mon, 5 Jan 2026 at 09:18, Shop <care@shop.com> wrote:") is not None
    assert regex.match("Still no refund.") is None
