"""What the official Python SDK `unicat` reads from a dev-server project, as JSON, for the
side-by-side test of our typed views, helpers and walkers (tests/tests/sdk_side_by_side.rs).

Usage: python sdk_reading.py URL PROJECT API_KEY RECORDS_JSON NAMES_JSON
  RECORDS_JSON: the gids whose field values to read, in every project language
  NAMES_JSON:   {"definitions": [...], "classes": [...], "fields": [...],
                 "record_queries": [...], "asset_queries": [...], "schema_queries": [...]}
The only output on stdout is one JSON document.
"""

import json
import sys
import tempfile

from unicat import Unicat


def norm(value):
    """A field value as JSON, the way the test compares it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    return str(value)


def field_info(f):
    return {"type": f.type, "label": f.label, "title": f.title, "unit": f.unit}


def main():
    url, project, key, records, names = sys.argv[1:6]
    records, names = json.loads(records), json.loads(names)
    with tempfile.TemporaryDirectory() as folder:
        u = Unicat(url, project, key, folder)
        assert u.connect(), "connect"
        out = {
            "tree": [r.gid for r in u.walk_record_tree()],
            "asset_tree": [a.gid for a in u.walk_asset_tree()],
            "root_record": u.get_root_record().gid,
            "root_asset": u.get_root_asset().gid,
            "asset_by_pathname": u.get_asset_by_pathname("/img/photo-1.jpg").gid,
            "get_records": [r.gid for r in u.get_records(records)],
            "definitions": [d.gid for d in u.walk_definitions()],
            "classes": [c.gid for c in u.walk_classes()],
            "fields": [f.gid for f in u.walk_fields()],
            "queries": [q.gid for q in u.walk_queries()],
            "modules": [m.name for m in u.walk_modules()],
        }
        walks = {
            "record": u.walk_record_query,
            "asset": u.walk_asset_query,
            "schema": u.walk_schema_query,
        }
        found = {}
        for kind, walk in walks.items():
            for name in names[kind + "_queries"]:
                query = u._get_query_by_type_name(kind, name)
                for limit in (None, 3):
                    items = []
                    for total, item in walk("en", query, limit=limit):
                        gid = item.gid
                        if kind == "schema":
                            gid = type(item).__name__.replace("Unicat", "").lower().rstrip("_") + ":" + gid
                        items.append([total, gid])
                    found[f"{kind}:{name}:{limit}"] = items
        out["query_walks"] = found
        out["by_name"] = {
            "definitions": {n: getattr(u.get_definition_by_name(n), "gid", None) for n in names["definitions"]},
            "classes": {n: getattr(u.get_class_by_name(n), "gid", None) for n in names["classes"]},
            "fields": {n: getattr(u.get_field_by_name(n), "gid", None) for n in names["fields"]},
            "record_queries": {n: getattr(u.get_record_query_by_name(n), "gid", None) for n in names["record_queries"]},
            "asset_queries": {n: getattr(u.get_asset_query_by_name(n), "gid", None) for n in names["asset_queries"]},
            "schema_queries": {n: getattr(u.get_schema_query_by_name(n), "gid", None) for n in names["schema_queries"]},
        }
        values = {}
        for gid in records:
            record = u.get_record(gid)
            per_lang = {}
            for lang, fields in record.fields.items():
                per_lang[lang] = {
                    name: {"value": norm(f.value), "key": norm(f.key), "field": field_info(f.field)}
                    for name, f in fields.items()
                }
            values[gid] = {"definition": record.definition.name, "fields": per_lang}
        out["values"] = values
    print(json.dumps(out))


main()
