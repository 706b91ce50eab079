"""The examples in the online models' docstrings are documentation: they must run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "models.protocol",
    "models.features",
    "models.need",
    "models.satisfaction",
    "models.urgency",
    "models.keywords",
    "models.emerging",
    "models.health",
    "models.baselines",
    "models.evaluate",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0, f"{name} has no examples"
    assert failures == 0
