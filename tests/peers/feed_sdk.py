"""The official Python SDK `unicat`, unmodified, reading the feed the `feed` examples write.

Walks the record tree with the SDK and writes, per record, its gid, its definition's name and
the listed fields' values in one language, exactly as `record.fields[lang][name].value` gives
them, normalised only so JSON can hold them and the examples' CSV can be compared: None as "",
a bool as "true"/"false", a list as its items (each `str()`) joined by "|". Numbers stay JSON
numbers (compare them as numbers: the SDK's are Python floats).

Usage (the `feed` examples' command line and environment):
    UNICAT_URL=... UNICAT_PROJECT=... UNICAT_API_KEY=... \
        python feed_sdk.py --lang en --fields artnr,price [--definition article] [--header] --out FILE

FILE gets one JSON list per line, a row each; with --header the first is
["gid", "definition", <field names>...]. The exit code is 0 on success.
"""

import argparse
import json
import os
import sys
import tempfile

from unicat import Unicat


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(str(item) for item in value)
    return value


def rows(unicat, lang, names, definition):
    for r in unicat.walk_record_tree():
        if definition is not None and (not r.definition or r.definition.name != definition):
            continue
        fields = r.fields.get(lang, {}) if r.fields else {}
        row = [r.gid, r.definition.name if r.definition else ""]
        row += ["" if f not in fields or fields[f].value is None else fields[f].value for f in names]
        yield [cell(v) for v in row]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", required=True)
    parser.add_argument("--fields", required=True)
    parser.add_argument("--definition")
    parser.add_argument("--header", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    names = [f.strip() for f in args.fields.split(",") if f.strip()]
    url, project, key = (os.environ[v] for v in ("UNICAT_URL", "UNICAT_PROJECT", "UNICAT_API_KEY"))

    with tempfile.TemporaryDirectory(prefix="unicat-feed-sdk-") as folder:
        unicat = Unicat(url, project, key, folder)
        if not unicat.connect():
            raise RuntimeError("the SDK could not connect")
        lines = []
        if args.header:
            lines.append(json.dumps(["gid", "definition"] + names))
        lines += [json.dumps(row) for row in rows(unicat, args.lang, names, args.definition)]

    part = args.out + ".part"
    with open(part, "w", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
    os.replace(part, args.out)
    log(f"wrote {len(lines)} rows to {args.out}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report anything as a failed run
        log(f"FAILED: {type(e).__name__}: {e}")
        raise
