"""The Elasticsearch document of a scored communication, as the worker's sink indexes it.

Mirrors :meth:`streams.sinks.CommunicationSink.deliver` (the index from the
event's own month, the ``event_id`` as id, the scored record's JSON plus the
segmented ``text_terms``); ``tests/unit/test_bench.py`` checks both give the
same requests.
"""

from __future__ import annotations

from config.settings import Settings
from models.tokenize import tokenize
from schemas.events import ScoredCommunication
from streams.search_index import IndexRequest, communications_index


def index_request(settings: Settings, record: ScoredCommunication) -> IndexRequest:
    """What :class:`streams.sinks.CommunicationSink` sends to ``bulk_index`` for ``record``."""
    document = record.model_dump(mode="json", exclude_none=True)
    document["text_terms"] = " ".join(tokenize(record.text, record.language))
    return IndexRequest(
        communications_index(settings, record.occurred_at), record.event_id, document
    )
