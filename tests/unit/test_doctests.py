"""The examples in docstrings are part of the documentation: they must run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "config.settings",
    "schemas.parsing",
    "streams.pipeline",
    "bench.stats",
    "crmstream.generator",
    "crmstream.replay",
    "schemas.events",
    "streams.normalize",
    "streams.redaction",
    "crmstream.search",
    "crmstream.similar",
    "crmstream.ops.data",
    "crmstream.ops.server",
    "models.bundle",
    "models.snapshots",
    "streams.language",
    "models.tokenize",
    "models.protocol",
    "models.features",
    "models.balancing",
    "models.need",
    "models.satisfaction",
    "models.urgency",
    "models.keywords",
    "models.compiled",
    "models.emerging",
    "models.health",
    "models.baselines",
    "models.evaluate",
    "streams.aggregates",
    "streams.alert_rules",
    "streams.expiry",
    "crmstream.infra.servers",
    "crmstream.infra.worker",
    "crmstream.infra.security",
    "crmstream.demo",
    "streams.access",
    "streams.kafka",
    "streams.topics",
    "streams.sinks",
    "streams.training",
    "streams.offsets",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0, f"{name} has no examples"
    assert failures == 0
