"""Fidelity check of the Unicat dev server against two clients that are not ours.

1. The seed's async connector (seed_connector.py, python-socketio + aiohttp) authenticates,
   connects to the Sync API at /sync/io, runs `initsync`, and must see a field change made
   through the control surface arrive as a `sync` event and land in its store.
2. The official Python SDK `unicat` authenticates, and its `sync()` (HTTP `/sync/get`, repeated
   while the answer carries `warning`) must pick up further changes. It also publishes and
   downloads an asset through /dam and /media.

Usage: python fidelity.py URL PROJECT API_KEY
Every wait is bounded. The last line on stdout is a JSON summary; the exit code is 0 on success.
"""

import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from seed_connector import UnicatApi  # noqa: E402
from unicat import Unicat  # noqa: E402

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


async def wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def wait_for_sync(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def connector_part(url, project, api_key, summary):
    api = UnicatApi(url, project)
    ok, result = await api.connect(api_key)
    assert ok, f"auth failed: {result}"
    assert result["project"] == project
    assert api.cc_cursor == result["cc.cursor"] and api.project_cursor == result["cursor"]
    assert set(api.data["definitions"]) and api.data["cc.languages"] == {"en": "English", "nl": "Dutch"}
    members = api.data["cc.projects_members"]
    assert all(key == f"{m['project_gid']}/{m['user_gid']}" for key, m in members.items()), members
    try:
        await wait_for(lambda: api.sio.connected, "the socket.io connection")
        # initsync is emitted on connect; the server counts the socket as synced once it acked.
        await wait_for(lambda: dev(url, "info")["synced_sockets"] >= 1, "the initsync ack")

        gid = dev(url, "record_gids", {"count": 1})["records"][0]
        ok, result = await api.call("/records/get", {"record": gid})
        assert ok and result == {"record": gid}, result
        before = api.data["records"][gid]["fields"]["en"]["price"]

        new_price = 0.1 + 0.2  # 0.30000000000000004: its text only survives an exact round trip
        cursor = dev(url, "set_field", {"record": gid, "language": "en", "field": "price", "value": new_price})["cursor"]
        await wait_for(
            lambda: api.data["records"][gid]["fields"]["en"]["price"] == new_price,
            "the price change to arrive through a sync event",
        )
        await wait_for(lambda: api.project_cursor == cursor, "the project cursor to advance")
        summary["connector"] = {"record": gid, "before": before, "after": new_price, "cursor": cursor}

        # A version bump is a cc item; the connector stores the new version.
        version = dev(url, "bump_version")["version"]
        await wait_for(lambda: api.cc_version == version, "the cc.version item")
        summary["connector"]["version"] = version

        # A restore job (no backup yet: back to the seed). On `restore_project done` the
        # connector re-runs /init, which empties its record store; refetching shows the seed.
        job = dev(url, "restore")["job.token"]
        await wait_for(lambda: dev(url, "job", {"token": job})["status"] == "done", "the restore job")
        final_cc = dev(url, "info")["cc.cursor"]
        await wait_for(lambda: api.cc_cursor == final_cc, "the job items to reach the connector")
        await wait_for(lambda: gid not in api.data["records"] and api.data["definitions"], "the re-init")
        ok, _ = await api.call("/records/get", {"record": gid})
        assert ok and api.data["records"][gid]["fields"]["en"]["price"] == before
        summary["connector"]["restored"] = True
    finally:
        await api.disconnect()


def sdk_part(url, project, api_key, summary):
    folder = tempfile.mkdtemp(prefix="unicat-sdk-")
    u = Unicat(url, project, api_key, folder)
    assert u.connect(), "SDK connect failed"
    assert u.project.languages == ["en", "nl"]
    root = u.get_root_record()
    gids = dev(url, "record_gids", {"count": 30})["records"]
    records = u.get_records(gids)
    assert [r.gid for r in records] == gids
    assert records[0].fields["en"]["artnr"].value == "A-00001"
    assert root.childcount >= 30

    target = gids[1]
    dev(url, "set_field", {"record": target, "field": "stock", "value": 777})
    # 25 more changes: with a small page limit, sync() must follow the `warning` over pages.
    dev(url, "change_records", {"count": 25, "field": "stock"})
    before_calls = dev(url, "counters").get("/sync/get", 0)
    assert u.sync()
    calls = dev(url, "counters").get("/sync/get", 0) - before_calls
    assert u.records[target]["fields"]["nl"]["stock"] == 778, u.records[target]["fields"]
    assert u.records[gids[0]]["fields"]["en"]["stock"] == 3 + 1
    summary["sdk"] = {"record": target, "stock": 778, "sync_calls": calls}

    photo = u.get_asset_by_pathname("/img/photo-1.jpg")
    assert photo.is_file and photo.type == "jpg"
    pathname = photo.download()
    assert pathname, "download failed"
    size = os.path.getsize(os.path.join(folder, pathname))
    assert size == photo.info["filesize"], (size, photo.info)
    ok, result = u.api.transform(u.assets[photo.gid], {"fill": "40,30", "type": "png"})
    assert ok and "/media/p-" in result["public_url"], result
    summary["sdk"]["download"] = pathname


async def main(url, project, api_key):
    summary = {}
    await connector_part(url, project, api_key, summary)
    await asyncio.to_thread(sdk_part, url, project, api_key, summary)
    summary["ok"] = True
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(asyncio.wait_for(main(*sys.argv[1:4]), timeout=60))
