"""One exception root, a documented tree, and one clear line on the command line."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import crmstream.errors
from config.settings import get_settings
from crmstream.cli import app
from crmstream.errors import ConfigurationError, CrmstreamError, DatasetError
from crmstream.generator import EventGenerator, GeneratorArgumentError
from crmstream.infra.errors import InfraError
from crmstream.replay import MappingError
from crmstream.similar import CommunicationNotFound
from models.bundle import SNAPSHOT_FORMAT, ModelBundle, SnapshotFormatError
from models.snapshots import SnapshotRejected
from schemas.parsing import InvalidEvent
from streams.access import AccessError
from streams.alert_config import AlertRulesError
from streams.profiles import ProfileConfigError
from streams.topics import TopicSetupError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agents", "bench", "config", "crmstream", "models", "schemas", "streams")

#: Each expected failure and the built-in base it had before the root existed.
TREE: dict[type[Exception], type[Exception]] = {
    ConfigurationError: RuntimeError,
    DatasetError: ValueError,
    InvalidEvent: ValueError,
    MappingError: ValueError,
    AlertRulesError: ValueError,
    SnapshotRejected: ValueError,
    SnapshotFormatError: ValueError,
    ProfileConfigError: ValueError,
    GeneratorArgumentError: ValueError,
    CommunicationNotFound: LookupError,
    AccessError: RuntimeError,
    TopicSetupError: RuntimeError,
    InfraError: RuntimeError,
}


@pytest.mark.parametrize("error", TREE, ids=lambda error: error.__name__)
def test_every_expected_failure_has_the_one_root_and_keeps_its_builtin_base(
    error: type[Exception],
) -> None:
    assert issubclass(error, CrmstreamError)
    assert issubclass(error, TREE[error])  # existing ``except ValueError`` still catch it


def subclasses_defined_in_the_project() -> set[str]:
    """Names of the classes whose bases name the root or a class of the tree (by ``ast``)."""
    known = {"CrmstreamError"} | {error.__name__ for error in TREE}
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                    isinstance(base, ast.Name) and base.id in known for base in node.bases
                ):
                    found.add(node.name)
    return found


def test_the_documented_tree_names_every_subclass_of_the_root() -> None:
    doc = crmstream.errors.__doc__ or ""
    defined = subclasses_defined_in_the_project()
    assert {error.__name__ for error in TREE} <= defined
    assert sorted(name for name in defined if name not in doc) == []


@pytest.fixture
def clean_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_clear_line(result: Result, exit_code: int, *words: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]


def test_a_bad_alert_rules_file_stops_the_worker_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_settings: None
) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text("rules:\n  - name: low\n    below: not-a-number\n  - nonsense: 1\n")
    monkeypatch.setenv("CRMSTREAM_ALERT_RULES_FILE", str(rules))

    async def no_cluster_in_a_unit_test(*args: object, **kwargs: object) -> None:
        raise AssertionError("the worker touched the cluster before checking its rules")

    monkeypatch.setattr("crmstream.cli.prepare_cluster", no_cluster_in_a_unit_test)
    result = CliRunner().invoke(app, ["worker"])
    assert_one_clear_line(result, 1, str(rules))


def test_a_replay_mapping_with_unknown_keys_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("text,when\nhello,2025-01-01\n")
    mapping = tmp_path / "mapping.yml"
    mapping.write_text("kind: communication\nbogus: 1\n")
    result = CliRunner().invoke(app, ["replay", str(data), "--mapping", str(mapping)])
    assert_one_clear_line(result, 1, "unknown keys", "bogus")


def test_an_evaluation_file_without_the_text_column_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("text,when\nhello,2025-01-01\n")
    args = ["eval", str(data), "--text-col", "body", "--out", str(tmp_path / "out")]
    assert_one_clear_line(CliRunner().invoke(app, args), 1, "no text column 'body'")


def test_a_missing_input_file_is_one_line_with_the_usage_exit_code(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    result = CliRunner().invoke(app, ["replay", str(missing)])
    assert_one_clear_line(result, 2, "missing.csv", "does not exist", "replay --help")


@pytest.mark.parametrize(
    ("customers_yml", "words"),
    [
        ("recent:\n  alpha: 2\n", ["recent.alpha must be in (0, 1]"]),
        ("segments:\n  count: many\n", ["invalid literal", "many"]),
        ("segments: [1, 2\n", ["while parsing"]),
    ],
    ids=["out-of-range", "wrong-type", "not-yaml"],
)
def test_a_bad_customers_file_stops_the_worker_with_one_line(
    customers_yml: str,
    words: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_settings: None,
) -> None:
    customers = tmp_path / "customers.yml"
    customers.write_text(customers_yml)
    monkeypatch.setenv("CRMSTREAM_CUSTOMERS_FILE", str(customers))

    async def no_cluster_in_a_unit_test(*args: object, **kwargs: object) -> None:
        raise AssertionError("the worker touched the cluster before checking its files")

    monkeypatch.setattr("crmstream.cli.prepare_cluster", no_cluster_in_a_unit_test)
    result = CliRunner().invoke(app, ["worker"])
    assert_one_clear_line(result, 1, str(customers), *words)


@pytest.mark.parametrize(
    "args",
    [["--zh-share", "2"], ["--count", "-1"]],
    ids=["zh-share", "count"],
)
def test_an_out_of_range_generator_argument_is_one_line(args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, ["generate", "--out", str(out), *args])
    assert_one_clear_line(result, 1, "must be")
    assert not out.exists()


def test_generator_argument_errors_keep_their_messages() -> None:
    with pytest.raises(GeneratorArgumentError, match=r"zh_share and label_share"):
        EventGenerator(zh_share=2)
    with pytest.raises(GeneratorArgumentError, match="customers and agents must be positive"):
        EventGenerator(customers=0)


def test_an_unknown_snapshot_format_is_rejected_as_a_snapshot() -> None:
    import pickle

    data = pickle.dumps(("crmstream.bundle/0", b"", b""), protocol=pickle.HIGHEST_PROTOCOL)
    assert SNAPSHOT_FORMAT != "crmstream.bundle/0"
    with pytest.raises(SnapshotRejected, match=r"unknown snapshot format 'crmstream\.bundle/0'"):
        ModelBundle.restore(data)
