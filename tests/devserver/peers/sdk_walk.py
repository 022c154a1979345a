"""The official Python SDK `unicat`, unmodified, walking the dev server.

Checks the helpers that read: walk_record_tree, walk_record_children, walk_record_query,
walk_asset_tree, walk_asset_children, walk_asset_query, walk_schema_query, walk_modules, the
get_* helpers (singular, plural, by name, by pathname, forced), and typed field access on a
record with a field of every type. Schema and queries planted after connect reach the SDK
through its own sync() (the dev server's sync notices), so the SDK's store is what it fetched.

Usage: python sdk_walk.py URL PROJECT API_KEY
Every wait is bounded. The last line on stdout is a JSON summary; the exit code is 0 on success.
"""

import json
import sys
import tempfile
import urllib.request

from unicat import Unicat, UnicatError

TIMEOUT = 15.0


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def dev(url, op, body=None):
    """Calls the dev server's control surface."""
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(
        f"{url}/_dev/{op}", data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        return json.loads(resp.read())


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main(url, project, api_key):
    summary = {}
    state = json.loads(urllib.request.urlopen(f"{url}/_dev/state", timeout=TIMEOUT).read())
    seeded = len(state["data"]["records"]) - 1  # the root's children
    wide = dev(url, "plant_children", {"count": 150})
    liar = dev(url, "plant_empty_page")["record"]

    with tempfile.TemporaryDirectory() as folder:
        u = Unicat(url, project, api_key, folder)
        check(u.connect(), "connect")

        # Planted after connect: the SDK learns of them through sync().
        queries = dev(url, "plant_queries")
        planted = dev(url, "plant_field_types")
        u.sync()
        check(set(queries.values()) <= set(u.queries), "queries fetched through sync")
        check(planted["definition"] in u.definitions, "definition fetched through sync")
        check(set(planted["classes"].values()) <= set(u.classes), "classes fetched through sync")
        check(set(planted["fields"].values()) <= set(u.fields), "fields fetched through sync")

        # The record tree, depth first, with every page of 100 and the lying record.
        tree = list(u.walk_record_tree(channel="__all__", ordering=None))
        gids = [r.gid for r in tree]
        check(len(gids) == len(set(gids)), "each record once")
        root = u.get_root_record()
        check(gids[0] == root.gid, "the root first")
        # root + seeded articles + wide catalog + its 150 + the liar + the field-types record
        check(len(tree) == 1 + seeded + 1 + 150 + 1 + 1, f"tree of {len(tree)}")
        wide_at = gids.index(wide["parent"])
        check(gids[wide_at + 1 : wide_at + 151] == wide["children"], "children in order")
        kids = list(u.walk_record_children(u.get_record(wide["parent"])))
        check([k.gid for k in kids] == wide["children"], "walk_record_children pages")
        check(list(u.walk_record_children(u.get_record(liar))) == [], "an empty page ends it")
        summary["tree"] = len(tree)

        # Typed access on the record with a field of every type.
        rec = u.get_record(planted["record"])
        en, nl = rec.fields["en"], rec.fields["nl"]
        check(en["t_number"].value == 42, "number")
        check(en["t_decimal"].value == 12345678901234567.891, "decimal")
        check(nl["t_decimal"].value == 0.30000000000000004, "decimal nl")
        check(en["t_boolean"].value is True and nl["t_boolean"].value is None, "boolean")
        check("t_barcode" in en and "t_barcode" not in nl, "barcode missing in nl")
        check(en["t_textlist"].value == ["Red", "Blue"] and en["t_textlist"].key == ["r", "b"], "list")
        check(en["t_class"]["width"].value == 10 and en["t_class"]["depth"].value == 2.5, "class")
        check(en["t_class"]["width"].field.unit == "mm", "class field unit")
        check(en["t_classlist"][1]["depth"].value == 0.2, "classlist")
        check(en["t_image"].pathname == "/img/photo-1.jpg", "image reference")
        check(en["t_file"].is_file, "file reference")
        check(en["t_imagelist"][0].name == "photo-1.jpg", "imagelist reference")
        check(en["t_imagelist"][1] is None, "a missing asset resolves to None")
        check(en["t_record"].gid == planted["records"][0], "record reference")
        check(en["t_recordlist"][1] is None, "a missing record resolves to None")
        check(en["t_filelist"].value == [], "empty filelist")
        check(en["t_fieldpicker"].value == u.get_field_by_name("artnr").gid, "fieldpicker")
        check(en["t_geo"].value == {"lat": 52.1, "lon": 5.1}, "unknown type")
        # By name, the class "extras" field comes after the definition's: it wins.
        check(en["t_textline"].field.type == "code", "extras' t_textline wins by name")
        summary["t_code"] = en["t_code"].value
        check(u.get_definition_by_name("everything").gid == planted["definition"], "by name")
        check(u.get_class_by_name("dimensions").gid == planted["classes"]["dimensions"], "class")
        check(u.get_field_by_name("t_decimal").unit == "EUR", "field by name")

        # Record queries: the planted one and the seeded one.
        in_stock = u.get_record_query_by_name("In stock")
        hits = list(u.walk_record_query("en", in_stock))
        check(hits, "In stock finds records")
        total = hits[0][0]
        check(len(hits) == total, f"{len(hits)} of {total}")
        check(all(r.fields["en"]["stock"].value > 0 for _, r in hits), "stock > 0")
        summary["in_stock"] = total
        limited = list(u.walk_record_query("en", in_stock, limit=5))
        check(len(limited) == 5, "limit")
        cheap = list(u.walk_record_query("nl", u.get_record_query_by_name("Cheap articles")))
        check(all(r.fields["nl"]["price"].value < 1.0 for _, r in cheap), "Cheap articles")
        summary["cheap"] = len(cheap)

        # Assets.
        photo = u.get_asset_by_pathname("/img/photo-1.jpg")
        check(photo.name == "photo-1.jpg" and photo.is_file, "asset by pathname")
        again = u.get_asset_by_pathname("/img/photo-1.jpg", force=True)
        check(again.gid == photo.gid, "forced")
        by_path = u.get_assets_by_pathname(["/img", "/img/photo-2.png"], force=True)
        check(set(by_path) == {"/img", "/img/photo-2.png"}, "assets by pathname")
        check([a.gid for a in u.get_assets([photo.gid], force=True)] == [photo.gid], "get_assets")
        check(u.get_asset(photo.gid, force=True).gid == photo.gid, "get_asset")
        assets = [a.pathname for a in u.walk_asset_tree()]
        check(assets == ["/", "/img", "/img/photo-1.jpg", "/img/photo-2.png"], f"{assets}")
        check(len(list(u.walk_asset_children(u.get_root_asset()))) == 1, "asset children")
        photos = [a.pathname for _, a in u.walk_asset_query("en", u.get_asset_query_by_name("Photos"))]
        check(photos == ["/img/photo-1.jpg", "/img/photo-2.png"], f"{photos}")

        # Schema.
        prices = [(type(i).__name__, i.name) for _, i in u.walk_schema_query("en", u.get_schema_query_by_name("Prices"))]
        check(("UnicatField", "price") in prices, f"{prices}")
        summary["prices"] = prices

        # Records by gid, forced.
        some = wide["children"][:3]
        check([r.gid for r in u.get_records(some, force=True)] == some, "get_records")
        check(u.get_record(some[0], force=True).gid == some[0], "get_record")
        try:
            u.get_record(planted["missing_record"], force=True)
            check(False, "a missing record raises")
        except UnicatError:
            pass

        # Modules.
        modules = [m.name for m in u.walk_modules()]
        check(modules == ["erp-connector"], f"{modules}")
        check(u.get_module("erp-connector", force=True).version == "1.0.0", "get_module")
        check([m.name for m in u.get_modules(["erp-connector"], force=True)] == modules, "modules")
        summary["modules"] = modules

    summary["ok"] = True
    return summary


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        result = main(*sys.argv[1:])
    except Exception as e:  # noqa: BLE001 - report anything as a failed run
        log(f"FAILED: {type(e).__name__}: {e}")
        raise
    print(json.dumps(result))
