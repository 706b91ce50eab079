"""The examples in docstrings are part of the documentation: they must run.

pytest collects them from every module of the project's packages
(``--doctest-modules`` and the packages in ``testpaths``, see pyproject.toml), so
there is no list to keep. Collecting imports every module, which is harmless only
because importing a module connects nowhere: checked here too.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_imports import PACKAGES, project_modules

ROOT = Path(__file__).resolve().parents[2]


def test_pytest_collects_the_examples_of_every_package(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.getoption("doctestmodules")
    assert set(PACKAGES) <= set(pytestconfig.getini("testpaths"))
    assert "ELLIPSIS" in pytestconfig.getini("doctest_optionflags")


#: Modules whose examples document them; pytest would silently collect nothing if
#: they were lost, so their presence is checked here.
DOCUMENTED_BY_EXAMPLES = (
    "crmstream.search",
    "crmstream.search_render",
    "models.bundle",
    "models.softmax",
    "models.tokenize",
    "schemas.events",
    "streams.language",
    "streams.normalize",
    "streams.redaction",
)


@pytest.mark.parametrize("name", DOCUMENTED_BY_EXAMPLES)
def test_the_modules_documented_by_examples_still_have_them(name: str) -> None:
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    assert sum(len(test.examples) for test in tests) > 0


#: Run in a fresh interpreter (this one has imported most modules already): refuse every
#: connection and name lookup, import every module, then prove the refusal was active.
IMPORT_WITHOUT_NETWORK = """
import importlib, json, socket, sys

attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[1:] or args))
    raise ConnectionRefusedError("a module connected while being imported")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed[name] = repr(error)
during_import = list(attempts)
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
except OSError:
    pass
print(json.dumps({"attempts": during_import, "failed": failed,
                  "guard_works": len(attempts) > len(during_import)}))
"""


def test_importing_any_module_connects_nowhere() -> None:
    # python -m crmstream runs the command line: __main__ is run, never imported.
    names = sorted(name for name in project_modules() if not name.endswith("__main__"))
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_NETWORK, *names],
        cwd=ROOT,
        # The modules this interpreter sees: the project first, then what it sees besides.
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["guard_works"]
    assert report["failed"] == {}
    assert report["attempts"] == []
