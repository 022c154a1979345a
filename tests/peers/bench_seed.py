"""The baselines of the benchmark harness (tests/benches/compare.rs): the seed's connector
(seed_connector.py, unchanged) and the official Python SDK, measured the way the harness
measures our runtimes, against the same dev server.

Usage: python bench_seed.py SCENARIO URL PROJECT API_KEY [N]
  connect      auth + socket connected + initsync handled
  catchup      hold N records, drop the transport, change all N, time from the reconnect to
               the cursor reaching the server's
  catchup-refused   the same with the reconnects refused for the first second, timed from
               the drop
  catchup-slow the same with every API answer delayed 20 ms, timed from the drop
  propagation  N single ERP changes one after another: control call to the store's new value
  memory-sdk   the Python SDK holding N records: peak resident memory (VmHWM)
The last line on stdout is one JSON object with the figures. Every wait is bounded.
"""

import asyncio
import contextlib
import io
import json
import os
import sys
import time
import http.client
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from seed_connector import UnicatApi  # noqa: E402

TIMEOUT = 600.0


_control = {}

# In the harness's TLS mode the dev server's certificate is self-signed: the seed's code is
# unchanged, only what it trusts is set (its certifi-based context here; aiohttp and requests
# through SSL_CERT_FILE and REQUESTS_CA_BUNDLE, set by the harness).
_ca = os.environ.get("UNICAT_BENCH_CA")
if _ca:
    import ssl

    import seed_connector

    seed_connector._sslcontext = ssl.create_default_context(cafile=_ca)


def dev(url, op, body=None):
    """Calls the dev server's control surface over one kept-alive connection, as the Rust
    harness does, so the trigger costs the same on both sides."""
    parsed = urllib.parse.urlsplit(url)
    conn = _control.get(url)
    if conn is None:
        if parsed.scheme == "https":
            import ssl

            ctx = ssl.create_default_context(cafile=_ca)
            conn = http.client.HTTPSConnection(parsed.hostname, parsed.port, timeout=60, context=ctx)
        else:
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        _control[url] = conn
    data = json.dumps(body or {})
    conn.request("POST", f"/_dev/{op}", body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    return json.loads(resp.read())


def vm(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


async def wait_for(predicate, what, timeout=TIMEOUT, step=0.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(step)


async def connected(url, project, api_key):
    api = UnicatApi(url, project)
    # The seed prints a line per sync event; that is its behaviour, but it goes to stderr here so
    # that stdout carries only the result.
    with contextlib.redirect_stdout(sys.stderr):
        ok, result = await api.connect(api_key)
    assert ok, result
    return api


async def load(api, gids):
    for i in range(0, len(gids), 100):
        ok, result = await api.call("/records/get", {"records": gids[i : i + 100]})
        assert ok, result


async def connect_scenario(url, project, api_key, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        api = UnicatApi(url, project)
        synced = asyncio.Event()
        original = api.sio_ns.handle_sync_data

        async def done(data=None, original=original, synced=synced):
            await original(data)
            synced.set()

        api.sio_ns.handle_sync_data = done
        with contextlib.redirect_stdout(sys.stderr):
            ok, result = await api.connect(api_key)
            assert ok, result
            await asyncio.wait_for(synced.wait(), TIMEOUT)
        times.append(time.perf_counter() - start)
        await api.disconnect()
    return {"connect_s": sorted(times)[len(times) // 2], "runs": n}


async def catchup_scenario(url, project, api_key, n, fault=None):
    gids = dev(url, "record_gids", {"count": n})["records"]
    api = await connected(url, project, api_key)
    await load(api, gids)
    reconnected = {}

    original = api.sio_ns.on_connect

    async def on_connect():
        reconnected.setdefault("at", time.perf_counter())
        await original()

    api.sio_ns.on_connect = on_connect
    dev(url, "pause_sync")
    dev(url, "counters/reset")
    if fault == "refused":
        dev(url, "refuse_connects", {"seconds": 1.0, "message": "Service unavailable"})
    elif fault == "slow":
        dev(url, "delay_api", {"ms": 20})
    dropped = time.perf_counter()
    dev(url, "drop_transports")
    dev(url, "change_records", {"count": n})
    target = dev(url, "info")["cursor"]
    dev(url, "resume_sync")
    with contextlib.redirect_stdout(sys.stderr):
        await wait_for(lambda: api.project_cursor >= target, "the catch-up", step=0.01)
    end = time.perf_counter()
    dev(url, "clear_faults")
    counters = dev(url, "counters")
    requests = sum(v for k, v in counters.items() if not k.startswith("socket") and k != "initsync")
    await api.disconnect()
    start = reconnected["at"] if fault is None else dropped
    return {"catchup_s": end - start, "requests": requests, "changed": n}


async def propagation_scenario(url, project, api_key, n):
    gid = dev(url, "record_gids", {"count": 1})["records"][0]
    api = await connected(url, project, api_key)
    await load(api, [gid])
    latencies = []
    with contextlib.redirect_stdout(sys.stderr):
        for i in range(n):
            price = round(10 + i * 0.01, 2)
            start = time.perf_counter()
            dev(url, "set_field", {"record": gid, "language": "en", "field": "price", "value": price})
            await wait_for(
                lambda: api.data["records"][gid]["fields"]["en"]["price"] == price, "the change", timeout=30
            )
            latencies.append(time.perf_counter() - start)
    await api.disconnect()
    latencies.sort()
    return {
        "p50_s": latencies[len(latencies) // 2],
        "p99_s": latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)],
        "changes": n,
    }


def memory_sdk_scenario(url, project, api_key, n):
    from unicat import Unicat

    before = vm("VmRSS")
    with contextlib.redirect_stdout(io.StringIO()):
        client = Unicat(url, project, api_key, None)
        assert client.connect()
        api = client.api
        gids = dev(url, "record_gids", {"count": n})["records"]
        for i in range(0, len(gids), 100):
            ok, result = api.call("/records/get", {"records": gids[i : i + 100]})
            assert ok, result
    held = len(api.data["records"])
    return {"peak_rss": vm("VmHWM"), "rss_before": before, "records": held}


def main():
    scenario, url, project, api_key = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    if scenario == "memory-sdk":
        result = memory_sdk_scenario(url, project, api_key, n)
    else:
        run = {
            "connect": connect_scenario,
            "catchup": catchup_scenario,
            "catchup-refused": lambda *a: catchup_scenario(*a, fault="refused"),
            "catchup-slow": lambda *a: catchup_scenario(*a, fault="slow"),
            "propagation": propagation_scenario,
        }[scenario]
        result = asyncio.run(run(url, project, api_key, n))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
