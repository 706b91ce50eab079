"""``crmstream similar`` against a real worker's index: similar messages and a suggested reply."""

from __future__ import annotations

import asyncio
import html
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import Settings
from crmstream.generator import EventGenerator
from crmstream.ops.server import create_app
from crmstream.similar import ENDED_WELL, find_similar
from streams.search_index import COMMUNICATIONS_ALIAS, FEEDBACK_ALIAS, create_client
from tests.conftest import start_scoped_worker
from tests.integration.support import indexed, send_events, wait_until


def _at(value: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(value["occurred_at"])


async def _ops_page(settings: Settings, path: str, *, status: int = 200) -> str:
    """GET ``path`` from the ops application (in process, on a free port)."""
    async with TestClient(TestServer(create_app(settings))) as client:
        response = await client.get(path)
        assert response.status == status, await response.text()
        return f"{response.status} {await response.text()}"


def test_similar_messages_and_a_reply_from_a_well_rated_conversation_of_the_same_need(
    scoped: Settings, tmp_path: Path
) -> None:
    # Every inbound message labelled, so the test knows each conversation's need.
    events = list(EventGenerator(seed=404, label_share=1.0).events(3600))
    communications = {e.value["event_id"]: e.value for e in events if e.kind == "communication"}
    need_of = {v["conversation_id"]: v["need"] for v in communications.values() if v.get("need")}
    scores: dict[str, list[float]] = defaultdict(list)
    for e in (e for e in events if e.kind == "feedback"):
        low, high = e.value["scale"]["min"], e.value["scale"]["max"]
        scores[e.value["conversation_id"]].append((e.value["score"] - low) / (high - low))
    rating_of = {c: sum(s) / len(s) for c, s in scores.items()}

    worker = start_scoped_worker(scoped, tmp_path / "worker.log")
    try:
        # Whether an unrated conversation ended well is its last predicted satisfaction:
        # history scored by a model that has learned from ratings, as on a running
        # system. Sent in one burst, most of it was scored before the first snapshot
        # (all 0.5), and the test then depended on how far the learner had got.
        warm_up = len(events) // 3
        send_events(scoped, events[:warm_up])
        wait_until(
            lambda: (
                (worker.metric("crmstream_model_version", role="scorer", model="satisfaction") or 0)
                >= 100
            ),
            what="a snapshot that learned from ratings",
        )
        send_events(scoped, events[warm_up:])
        wait_until(
            lambda: len(indexed(scoped, list(communications))) == len(communications),
            what=f"{len(communications)} communications indexed",
        )
        ratings = [e.value["event_id"] for e in events if e.kind == "feedback"]
        wait_until(
            lambda: len(indexed(scoped, ratings, FEEDBACK_ALIAS)) == len(ratings),
            what=f"{len(ratings)} ratings in {scoped.index_name(FEEDBACK_ALIAS)}",
        )
        # Opening messages of the conversations of the last third, in both languages.
        opening = [
            v
            for v in sorted(communications.values(), key=lambda v: v["occurred_at"])
            if v["direction"] == "inbound" and "agent_id" not in v
        ]
        asked = opening[-len(opening) // 3 :]
        asked = [v for v in asked if v["language"] == "en"][:12] + [
            v for v in asked if v["language"] == "zh"
        ][:6]
        client = create_client(scoped)
        try:
            results = [
                find_similar(
                    client,
                    scoped.index_name(COMMUNICATIONS_ALIAS),
                    scoped.index_name(FEEDBACK_ALIAS),
                    v["event_id"],
                )
                for v in asked
            ]
        finally:
            client.close()
    finally:
        assert worker.stop() == 0

    suggested = []
    same_need_similar = 0
    for value, result in zip(asked, results, strict=True):
        assert len(result.similar) == 5, value["text"]
        for similar in result.similar:
            source = communications[similar.event_id]
            assert _at(source) < _at(value)
            assert source["language"] == value["language"]
            assert source["direction"] == "inbound"
        same_need_similar += sum(
            need_of.get(s.conversation_id or "") == value["need"] for s in result.similar
        )
        if result.reply is not None:
            suggested.append((value, result.reply))

    # Similar messages are mostly about the same need (chance: the share of the commonest
    # need); some openings name no need at all ("I need help with the wireless earbuds").
    assert same_need_similar >= 0.6 * 5 * len(asked)
    assert len(suggested) >= 0.8 * len(asked)
    for _, reply in suggested:
        conversation = reply.conversation_id
        reply_source = communications[reply.reply_event_id]
        assert reply_source["direction"] == "outbound"
        assert reply_source["conversation_id"] == conversation
        assert reply_source["occurred_at"] > communications[reply.answered_event_id]["occurred_at"]
        # The suggested text is the indexed (cleaned, redacted) reply.
        assert (
            reply.text == indexed(scoped, [reply.reply_event_id])[reply.reply_event_id][0]["text"]
        )
        if conversation in rating_of:  # rated: by the customers' own ratings
            assert reply.rating == pytest.approx(rating_of[conversation], abs=1e-6)
            assert rating_of[conversation] >= ENDED_WELL
        else:  # unrated: by the customer's last predicted satisfaction
            assert reply.rating is None
            assert reply.predicted_satisfaction is not None
            assert reply.predicted_satisfaction >= ENDED_WELL
    # The same on the ops page: the asked message's similar ones and the suggested reply.
    value, reply = suggested[0]
    page = asyncio.run(_ops_page(scoped, f"/similar?event_id={value['event_id']}"))
    assert html.escape(reply.text) in page and 'id="similar"' in page
    assert "404" in asyncio.run(_ops_page(scoped, "/similar?event_id=nope", status=404))
    same_need = [v for v, r in suggested if need_of[r.conversation_id] == v["need"]]
    assert len(same_need) >= 0.8 * len(suggested)
    assert any(
        r.rating is not None for v, r in suggested if need_of[r.conversation_id] == v["need"]
    )
