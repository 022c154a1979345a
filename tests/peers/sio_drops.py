"""How a real python-socketio client sees the dev server end its connections.

Usage: python sio_drops.py URL PROJECT API_KEY MODE
  MODE transport-websocket | transport-polling:
      /_dev/drop_transports cuts the TCP connections without any Socket.IO goodbye; the client
      must see a transport-level disconnect, reconnect by itself, run initsync again, and then
      receive a new change as a `sync` event.
  MODE server-disconnect:
      /_dev/disconnect_sockets sends a Socket.IO DISCONNECT; the client must see a server
      disconnect and must not try to reconnect.
Every wait is bounded. The last stdout line is a JSON summary; exit code 0 on success.
"""

import asyncio
import json
import sys
import time
import urllib.request

import socketio

TIMEOUT = 15.0


def http(url, path, body=None, headers=None):
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        return resp.headers, json.loads(resp.read())


async def wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def main(url, project, api_key, mode):
    headers, auth = http(url, f"/api/p/{project}/auth", {"api_key": api_key})
    state = {
        "jwt": headers["Authorization"],
        "cc": auth["result"]["cc.cursor"],
        "cursor": auth["result"]["cursor"],
        "connects": 0,
        "acks": 0,
        "disconnects": [],
        "items": [],
    }
    sio = socketio.AsyncClient(reconnection_delay=0.1, reconnection_delay_max=0.2, randomization_factor=0)

    def on_items(items):
        for item in items or []:
            state["items"].append(item)
            key = "cc" if item["type"] == "cc" else "cursor"
            state[key] = max(state[key], item["cursor"])

    @sio.event
    async def connect():
        state["connects"] += 1

        def ack(items):
            state["acks"] += 1
            on_items(items)

        await sio.emit(
            "initsync",
            {"cc.cursor": state["cc"], "project": project, "cursor": state["cursor"]},
            callback=ack,
        )

    @sio.event
    async def disconnect(reason=None):
        state["disconnects"].append(str(reason))

    @sio.event
    async def sync(items):
        on_items(items)

    transports = ["websocket"] if mode == "transport-websocket" else ["polling"]
    if mode == "server-disconnect":
        transports = ["polling", "websocket"]
    await sio.connect(url, socketio_path="/sync/io", auth=lambda: {"JWT": state["jwt"]}, transports=transports)
    summary = {"mode": mode, "transport": sio.transport()}
    try:
        await wait_for(lambda: state["acks"] == 1, "the first initsync ack")
        if mode.startswith("transport-"):
            _, dropped = http(url, "/_dev/drop_transports")
            summary["dropped"] = dropped["dropped"]
            await wait_for(lambda: state["disconnects"], "the transport-level disconnect")
            reason = state["disconnects"][0]
            assert reason != sio.reason.SERVER_DISCONNECT, reason
            await wait_for(lambda: state["connects"] == 2 and state["acks"] == 2, "the reconnect and its initsync")
            gid = http(url, "/_dev/record_gids", {"count": 1})[1]["records"][0]
            _, changed = http(url, "/_dev/set_field", {"record": gid, "field": "stock", "value": 4242})
            await wait_for(lambda: state["cursor"] == changed["cursor"], "a sync event after the reconnect")
            summary.update(reason=reason, connects=state["connects"], cursor=state["cursor"])
        else:
            _, done = http(url, "/_dev/disconnect_sockets")
            summary["disconnected"] = done["disconnected"]
            await wait_for(lambda: state["disconnects"], "the server disconnect")
            reason = state["disconnects"][0]
            assert reason == sio.reason.SERVER_DISCONNECT, reason
            await wait_for(lambda: not sio.connected and sio.eio.state == "disconnected", "the client to close")
            # A server disconnect must not start the reconnection loop.
            assert sio._reconnect_task is None, "the client is reconnecting"
            summary.update(reason=reason, connects=state["connects"])
    finally:
        if sio.connected:
            await sio.disconnect()
    summary["ok"] = True
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    asyncio.run(asyncio.wait_for(main(*sys.argv[1:5]), timeout=60))
