"""The examples in docstrings are part of the documentation: they must run."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGES = ("agents", "bench", "config", "crmstream", "models", "schemas", "streams")


def modules_with_examples() -> list[str]:
    """Every module of the project's packages whose source holds a docstring example
    (found, not listed: a module added later cannot be forgotten here)."""
    root = Path(__file__).resolve().parents[2]
    return sorted(
        ".".join(p for p in path.relative_to(root).with_suffix("").parts if p != "__init__")
        for package in PACKAGES
        for path in (root / package).rglob("*.py")
        if ">>>" in path.read_text(encoding="utf-8")
    )


MODULES = modules_with_examples()


def test_the_examples_are_found() -> None:
    assert {"models.softmax", "models.bundle", "streams.redaction"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0, f"{name} has no examples"
    assert failures == 0
