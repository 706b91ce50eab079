"""The Kibana saved objects in ``config/kibana/saved_objects.ndjson`` stay consistent.

Kibana imports a saved search that names a field the index does not have without
complaint; the search then shows an empty column or matches nothing. These tests
check every field the saved searches and the dashboard use (columns, sort, KQL)
against the communications index template, and that every reference resolves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from streams.search_index import ALERTS_ALIAS, COMMUNICATIONS_ALIAS

ROOT = Path(__file__).resolve().parents[2]
NDJSON = ROOT / "config" / "kibana" / "saved_objects.ndjson"
TEMPLATES = ROOT / "config" / "elasticsearch"
# Each data view and the index template behind its alias.
DATA_VIEWS = {COMMUNICATIONS_ALIAS: "communications.json", ALERTS_ALIAS: "alerts.json"}
TYPES = {"index-pattern", "search", "dashboard", "visualization", "lens"}
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

SavedObject = dict[str, Any]


def load_objects() -> list[SavedObject]:
    lines = NDJSON.read_text(encoding="utf-8").splitlines()
    objects = []
    for number, line in enumerate(lines, start=1):
        assert line.strip(), f"line {number} is blank"
        obj = json.loads(line)
        assert isinstance(obj, dict), f"line {number} is not a JSON object"
        objects.append(obj)
    return objects


def mapped_fields(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted field name -> type, for every searchable leaf field and multi-field.

    Objects are walked into (``text_info.pii.EMAIL``) but are not fields themselves;
    an ``enabled: false`` object without properties (``metadata``) holds no fields.
    """
    fields: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            fields.update(mapped_fields(spec["properties"], f"{path}."))
            continue
        kind = spec.get("type", "object")
        if kind in {"object", "nested"}:
            continue
        fields[path] = kind
        for sub, sub_spec in spec.get("fields", {}).items():
            fields[f"{path}.{sub}"] = sub_spec.get("type", "object")
    return fields


def mapping(data_view: str = COMMUNICATIONS_ALIAS) -> dict[str, str]:
    template = json.loads((TEMPLATES / DATA_VIEWS[data_view]).read_text(encoding="utf-8"))
    return mapped_fields(template["template"]["mappings"]["properties"])


def data_view_of(obj: SavedObject) -> str:
    """The data view a saved search reads (a dashboard's panels read communications)."""
    refs = {ref["name"]: ref["id"] for ref in obj["references"]}
    return str(refs.get(INDEX_REF, COMMUNICATIONS_ALIAS))


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@-]*)\s*(?:<=|>=|<|>|:)")


def kql_fields(query: str) -> set[str]:
    """Field names in a KQL query: identifiers before ``:``, ``<``, ``>``, ``<=``, ``>=``."""
    return set(_KQL_FIELD.findall(_QUOTED.sub('""', query)))


def search_source(obj: SavedObject) -> dict[str, Any]:
    meta = obj["attributes"].get("kibanaSavedObjectMeta", {})
    source: dict[str, Any] = json.loads(meta.get("searchSourceJSON", "{}"))
    return source


def sort_fields(sort: list[Any]) -> set[str]:
    if sort and isinstance(sort[0], str):  # the legacy ["field", "desc"] form
        return {sort[0]}
    return {entry[0] for entry in sort}


def referenced_fields(obj: SavedObject) -> dict[str, set[str]]:
    """Where each field is used ("columns", "sort", "query") in one saved object."""
    attributes = obj["attributes"]
    used: dict[str, set[str]] = {"columns": set(), "sort": set(), "query": set()}
    used["columns"] |= set(attributes.get("columns", []))
    used["sort"] |= sort_fields(attributes.get("sort", []))
    query = search_source(obj).get("query", {})
    if query:
        assert query.get("language") == "kuery", f"{obj['id']}: only KQL queries are checked"
        used["query"] |= kql_fields(query["query"])
    for panel in json.loads(attributes.get("panelsJSON", "[]")):
        config = panel.get("embeddableConfig", {})
        used["columns"] |= set(config.get("columns", []))
        used["sort"] |= sort_fields(config.get("sort", []))
    return used


OBJECTS = load_objects()
SEARCHES = [obj for obj in OBJECTS if obj["type"] == "search"]
CHECKED = [obj for obj in OBJECTS if obj["type"] in {"search", "dashboard"}]


def test_every_line_is_a_saved_object_with_a_unique_id() -> None:
    keys = [(obj["type"], obj["id"]) for obj in OBJECTS]
    assert len(keys) == len(set(keys))
    assert len({obj["id"] for obj in OBJECTS}) == len(OBJECTS)
    for obj in OBJECTS:
        assert obj["type"] in TYPES
        assert isinstance(obj["attributes"], dict) and obj["attributes"].get("title")
        assert isinstance(obj["references"], list)
        assert obj["coreMigrationVersion"] == "8.8.0"
        assert re.fullmatch(r"\d+\.\d+\.\d+", obj["typeMigrationVersion"])


def test_the_expected_objects_are_there() -> None:
    titles = {(obj["type"], obj["attributes"]["title"]) for obj in OBJECTS}
    assert {
        ("index-pattern", COMMUNICATIONS_ALIAS),
        ("index-pattern", ALERTS_ALIAS),
        ("search", "low satisfaction"),
        ("search", "alerts firing"),
        ("search", "urgent"),
        ("search", "by need"),
        ("dashboard", "crmstream overview"),
    } <= titles


def test_references_resolve_to_objects_in_the_file() -> None:
    present = {(obj["type"], obj["id"]) for obj in OBJECTS}
    for obj in OBJECTS:
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), f"{obj['id']}: duplicate reference names"
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, f"{obj['id']}: dangling {ref}"


def test_data_views_cover_the_aliases_and_their_time_fields_are_dates() -> None:
    views = [obj for obj in OBJECTS if obj["type"] == "index-pattern"]
    assert sorted(view["id"] for view in views) == sorted(DATA_VIEWS)
    for view in views:
        attributes = view["attributes"]
        assert attributes["title"] == view["id"]
        assert mapping(view["id"]).get(attributes["timeFieldName"]) == "date"


@pytest.mark.parametrize("obj", SEARCHES, ids=lambda o: o["id"])
def test_saved_search_points_at_the_data_view(obj: SavedObject) -> None:
    source = search_source(obj)
    assert source["indexRefName"] == INDEX_REF
    refs = {ref["name"]: ref for ref in obj["references"]}
    assert refs[INDEX_REF]["type"] == "index-pattern"
    assert refs[INDEX_REF]["id"] in DATA_VIEWS
    assert isinstance(source.get("filter", []), list)
    assert obj["attributes"]["columns"], "a saved search without columns shows only _source"


def test_dashboard_panels_are_the_saved_searches() -> None:
    (dashboard,) = [obj for obj in OBJECTS if obj["type"] == "dashboard"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {ref["name"]: ref for ref in dashboard["references"]}
    searches = {obj["id"] for obj in SEARCHES}
    embedded = set()
    for panel in panels:
        assert panel["type"] == "search"
        assert panel["gridData"]["i"] == panel["panelIndex"]
        # Kibana exports panel references as "<panelIndex>:<panelRefName>".
        ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        assert ref["type"] == "search"
        embedded.add(ref["id"])
    assert embedded == searches
    assert len(panels) == len(searches)


@pytest.mark.parametrize("obj", CHECKED, ids=lambda o: o["id"])
def test_every_referenced_field_is_mapped(obj: SavedObject) -> None:
    fields = mapping(data_view_of(obj))
    for where, names in referenced_fields(obj).items():
        missing = sorted(names - set(fields))
        assert not missing, f"{obj['id']}: {where} name unmapped fields {missing}"


@pytest.mark.parametrize("obj", CHECKED, ids=lambda o: o["id"])
def test_sort_fields_are_sortable(obj: SavedObject) -> None:
    fields = mapping(data_view_of(obj))
    for name in referenced_fields(obj)["sort"]:
        assert fields.get(name) != "text", f"{obj['id']}: cannot sort on text field {name}"


def test_kql_field_extraction() -> None:
    assert kql_fields('urgency_level : "P1" or urgency_level : "P2"') == {"urgency_level"}
    assert kql_fields("satisfaction < 0.35 and need_confidence>=0.5") == {
        "satisfaction",
        "need_confidence",
    }
    assert kql_fields('text : "a: b" and text_info.pii.EMAIL > 0') == {
        "text",
        "text_info.pii.EMAIL",
    }
    assert kql_fields("") == set()


def test_mapping_walk_covers_objects_and_multi_fields() -> None:
    fields = mapped_fields(
        {
            "a": {"type": "keyword"},
            "b": {"properties": {"c": {"type": "integer"}, "d": {"properties": {}}}},
            "e": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
            "m": {"type": "object", "enabled": False},
        }
    )
    assert fields == {"a": "keyword", "b.c": "integer", "e": "text", "e.raw": "keyword"}
