"""Interop peer: the python-socketio server (ASGI under uvicorn) at path /sync/io.

Prints {"port": N} on stdout once listening on 127.0.0.1, then serves until killed.
"""
import asyncio
import json
import socket
import sys

import socketio
import uvicorn

sio = socketio.AsyncServer(
    async_mode="asgi",
    ping_interval=1,
    ping_timeout=1,
    namespaces=["/", "/admin"],
    transports=sys.argv[1].split(",") if len(sys.argv) > 1 else ["polling", "websocket"],
)
app = socketio.ASGIApp(sio, socketio_path="sync/io")


@sio.on("connect", namespace="*")
async def connect(ns, sid, environ, auth):
    if auth and auth.get("token") == "bad":
        raise socketio.exceptions.ConnectionRefusedError("unauthorized", {"why": "bad token"})
    await sio.emit("auth", auth or {}, to=sid, namespace=ns)


@sio.on("echo", namespace="*")
async def echo(ns, sid, *args):
    return args


@sio.on("ask", namespace="*")
async def ask(ns, sid, *args):
    async def on_answer(*answer):
        await sio.emit("answer-received", list(answer), to=sid, namespace=ns)

    await sio.emit("question", "meaning?", to=sid, namespace=ns, callback=on_answer)


@sio.on("blob", namespace="*")
async def blob(ns, sid, n):
    await sio.emit("blob-back", (bytes([1, 2, 3, n]), {"nested": b"hi"}), to=sid, namespace=ns)


@sio.on("kick", namespace="*")
async def kick(ns, sid, *args):
    await sio.disconnect(sid, namespace=ns)


@sio.on("close_engine", namespace="*")
async def close_engine(ns, sid, *args):
    # A clean Engine.IO close: the session ends without a Socket.IO DISCONNECT. (An abrupt
    # TCP cut cannot be made from an ASGI handler; the Node peer makes that one.)
    await sio.eio.disconnect(sio.manager.eio_sid_from_sid(sid, ns))


async def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    print(json.dumps({"port": port}), flush=True)
    await server.serve(sockets=[sock])


asyncio.run(main())
