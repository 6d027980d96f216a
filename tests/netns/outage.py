"""Run INSIDE a fresh network namespace (``unshare -n python -m tests.netns.outage``): the
outbound port range is cut to 128 ports, Azure's SNAT preallocation per instance and
destination, and TIME_WAIT ports are not reused early (Azure frees a closed SNAT port only
after 240 s; Linux holds TIME_WAIT for 60 s, longer than this run).

1. the dispatcher (one keep-alive session, connector limit 32) delivers 20,000 notifications;
2. a session-per-call client (the 2020 behaviour) sends until it fails;
3. with the ports exhausted, any new outbound connection fails too, while the dispatcher keeps
   delivering on the connections it already holds.

Prints one JSON line with the figures; ``tests/netns/test_outage.py`` asserts on them.
"""

from __future__ import annotations

import asyncio
import errno
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from local.nhsim import DEV_KEY, DEV_KEY_NAME, start_nhsim, stats
from local.nhsim.naive import SessionPerCallSender
from shared.platform.clients import Clients
from shared.platform.clock import SystemClock
from shared.push.client import build_dispatcher
from shared.push.models import native_notification
from shared.push.settings import push_hubs
from tests.unit.push.factories import HUBS, push_settings

PORTS = (40000, 40127)  # 128 ports
SIMULATOR_PORT = 9443  # outside the range: the listener must not take one of the 128
CONNECTOR_LIMIT = 32
DISPATCHED = 20_000
PER_CALL_LIMIT = 1_000


def prepare_namespace() -> list[str]:
    """Loopback up, 128 outbound ports, no early reuse of TIME_WAIT ports; the range as set."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port_range = Path("/proc/sys/net/ipv4/ip_local_port_range")
    port_range.write_text(f"{PORTS[0]} {PORTS[1]}\n")
    Path("/proc/sys/net/ipv4/tcp_tw_reuse").write_text("0\n")
    return port_range.read_text().split()


def installation(n: int) -> str:
    return f"{n:064x}"


async def dispatch(dispatcher: Any, first: int, count: int) -> tuple[int, list[str]]:
    """Send ``count`` notifications, 256 at a time in flight from the callers' side."""
    failures: list[str] = []
    sent = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(first, first + count):
        queue.put_nowait(n)

    async def worker() -> None:
        nonlocal sent
        while not queue.empty():
            n = queue.get_nowait()
            native = native_notification("APNS", "Cashback", "Refund", {"n": str(n)})
            try:
                await dispatcher.send(installation(n), "APNS", native)
                sent += 1
            except Exception as error:  # counted and reported: the test asserts none
                failures.append(f"{type(error).__name__}: {error}")

    await asyncio.gather(*(worker() for _ in range(256)))
    return sent, failures


async def per_call_until_failure(endpoint: str) -> dict[str, Any]:
    sender = SessionPerCallSender(endpoint, HUBS[0], DEV_KEY_NAME, DEV_KEY)
    body = json.dumps({"aps": {"alert": "x"}}).encode()
    for n in range(PER_CALL_LIMIT):
        try:
            await sender.send(installation(n), body)
        except aiohttp.ClientError as error:
            cause = getattr(error, "os_error", None) or error.__cause__
            return {
                "succeededBeforeFailure": n,
                "error": str(error),
                "errno": getattr(cause, "errno", None),
            }
    return {"succeededBeforeFailure": PER_CALL_LIMIT, "error": None, "errno": None}


async def new_connection(endpoint: str) -> str | None:
    """Any other outbound call that needs a new connection (Cosmos, Service Bus, ...)."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{endpoint}_sim/stats") as response,
        ):
            await response.read()
    except aiohttp.ClientError as error:
        return str(error)
    return None


async def main(port_range: list[str]) -> dict[str, Any]:
    simulator = start_nhsim({name: {DEV_KEY_NAME: DEV_KEY} for name in HUBS}, port=SIMULATOR_PORT)
    endpoint = f"http://127.0.0.1:{simulator.port}/"
    try:
        settings, values = push_settings(
            simulator.port,
            PUSH_CONNECTOR_LIMIT=str(CONNECTOR_LIMIT),
            PUSH_CONNECTOR_LIMIT_PER_HOST=str(CONNECTOR_LIMIT),
        )
        clients = Clients(settings)
        dispatcher = build_dispatcher(settings, push_hubs(values), clients.session, SystemClock())
        started = time.perf_counter()
        sent, failures = await dispatch(dispatcher, 0, DISPATCHED)
        seconds = time.perf_counter() - started
        after_dispatch = stats(simulator.port)

        per_call = await per_call_until_failure(endpoint)
        collateral = await new_connection(endpoint)
        still_sent, still_failures = await dispatch(dispatcher, DISPATCHED, 1000)
        await clients.close()
        return {
            "portRange": port_range,
            "dispatcher": {
                "sent": sent,
                "failures": len(failures),
                "examples": failures[:3],
                "seconds": round(seconds, 2),
                "perSecond": round(sent / seconds),
                "connections": after_dispatch["connections"],
                "maxRequestsPerConnection": after_dispatch["maxRequestsPerConnection"],
            },
            "perCall": per_call,
            "newConnectionWhileExhausted": collateral,
            "dispatcherWhileExhausted": {"sent": still_sent, "failures": len(still_failures)},
            "eaddrnotavail": errno.EADDRNOTAVAIL,
        }
    finally:
        simulator.stop()


if __name__ == "__main__":
    result = asyncio.run(main(prepare_namespace()))
    sys.stdout.write(json.dumps(result) + "\n")
