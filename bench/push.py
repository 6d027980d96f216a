"""Benchmark of push dispatch against the Notification Hubs simulator (a few ms of latency):

- the dispatcher (shared.push: one keep-alive session per namespace, the in-flight bound,
  cached SAS tokens, retries), as the queue function uses it;
- a minimal raw aiohttp loop with the same connector (limit, keep-alive, timeouts) and a
  precomputed token, in the same run: the baseline (target: dispatcher >= 0.8 of it);
- a client that opens a session per call (the 2020 behaviour), on fewer notifications.

For each: notifications/s and the TCP connections the simulator saw. Asserts nothing.
Run: ``python -m bench.push [--count 5000] [--latency-ms 5] [--repeat 3]``.

Measured on the 2-core dev box (5 ms latency, 5,000 per run, connector limit 32), two runs:
dispatcher 1,999 and 4,388/s, raw aiohttp 2,195 and 4,014/s (ratio 0.91 and 1.09), 32 TCP
connections each; session per call 1,007 and 2,816/s with 2,000 connections for 2,000
notifications. On loopback without TLS a new connection is cheap; in Azure each one also
costs a TLS handshake and a SNAT port held for 240 s (see tests/netns).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from local.nhsim import DEV_KEY, DEV_KEY_NAME, Faults, connection_string, reset, start_nhsim, stats
from local.nhsim.naive import SessionPerCallSender
from local.process import ROOT
from shared.platform.clients import Clients
from shared.platform.clock import SystemClock
from shared.platform.config import Settings, load_settings
from shared.push.client import build_dispatcher, session_spec
from shared.push.models import native_notification
from shared.push.sas import resource_uri, sign
from shared.push.settings import push_hubs

HUB = "bench-hub"
CALLERS = 256  # queue invocations waiting to send, more than any connector limit


@dataclass
class Run:
    name: str
    notifications: int
    seconds: float
    connections: int
    failures: int
    max_in_flight: int = 0

    @property
    def rate(self) -> float:
        return self.notifications / self.seconds


def app_settings(port: int) -> tuple[Settings, dict[str, str]]:
    values: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ]
    values = {k: v for k, v in values.items() if not k.startswith("PUSH_HUB_")}
    values.update(
        CITIZEN_JWT_PUBLIC_KEY="unused",
        PUSH_HUB_1_CONNECTION=connection_string(port),
        PUSH_HUB_1_NAME=HUB,
        PUSH_HUB_1_DIGITS="0-f",
    )
    return load_settings(values), values


def installation(n: int) -> str:
    return f"{n:064x}"


def payload(n: int) -> bytes:
    return native_notification("APNS", "Cashback", "Refund on its way", {"n": str(n)}).body


async def drive(
    name: str, count: int, callers: int, port: int, send: Callable[[int], Awaitable[None]]
) -> Run:
    reset(port)
    pending = iter(range(count))
    failures = 0

    async def caller() -> None:
        nonlocal failures
        for n in pending:
            try:
                await send(n)
            except Exception:  # counted: a benchmark reports, it does not stop
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    seconds = time.perf_counter() - started
    return Run(name, count, seconds, stats(port)["connections"], failures)


async def dispatcher_run(port: int, count: int) -> Run:
    settings, values = app_settings(port)
    clients = Clients(settings)
    dispatcher = build_dispatcher(settings, push_hubs(values), clients.session, SystemClock())
    await dispatcher.send(installation(0), "APNS", native_notification("APNS", "w", "w", {}))
    try:

        async def send(n: int) -> None:
            notification = native_notification(
                "APNS", "Cashback", "Refund on its way", {"n": str(n)}
            )
            await dispatcher.send(installation(n), "APNS", notification)

        run = await drive("dispatcher", count, CALLERS, port, send)
        run.max_in_flight = max(n.max_in_flight for n in dispatcher.namespaces.values())
        return run
    finally:
        await clients.close()


async def raw_run(port: int, count: int) -> Run:
    settings, _ = app_settings(port)
    spec = session_spec(settings)
    connector = aiohttp.TCPConnector(
        limit=spec.limit,
        limit_per_host=spec.limit_per_host,
        keepalive_timeout=spec.keepalive_timeout,
    )
    timeout = aiohttp.ClientTimeout(total=spec.total_timeout, connect=spec.connect_timeout)
    endpoint = f"http://127.0.0.1:{port}/"
    url = f"{endpoint}{HUB}/messages/?api-version=2015-01"
    token = sign(resource_uri(endpoint, HUB), DEV_KEY_NAME, DEV_KEY, int(time.time()) + 3600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with session.post(
            url,
            data=payload(0),
            headers={
                "Authorization": token,
                "ServiceBusNotification-Format": "apple",
                "ServiceBusNotification-Tags": "$InstallationId:warm",
            },
        ) as response:
            await response.read()

        async def send(n: int) -> None:
            headers = {
                "Authorization": token,
                "Content-Type": "application/json;charset=utf-8",
                "ServiceBusNotification-Format": "apple",
                "ServiceBusNotification-Tags": f"$InstallationId:{installation(n)}",
            }
            async with session.post(url, data=payload(n), headers=headers) as response:
                await response.read()
                if response.status != 201:
                    raise RuntimeError(f"HTTP {response.status}")

        return await drive("raw aiohttp, same connector", count, CALLERS, port, send)


async def per_call_run(port: int, count: int, callers: int) -> Run:
    sender = SessionPerCallSender(f"http://127.0.0.1:{port}/", HUB, DEV_KEY_NAME, DEV_KEY)

    async def send(n: int) -> None:
        status = await sender.send(installation(n), payload(n))
        if status != 201:
            raise RuntimeError(f"HTTP {status}")

    return await drive("session per call", count, callers, port, send)


async def main(count: int, latency_ms: float, repeat: int, per_call: int) -> None:
    simulator = start_nhsim({HUB: {DEV_KEY_NAME: DEV_KEY}}, faults=Faults(latency_ms=latency_ms))
    try:
        settings, _ = app_settings(simulator.port)
        limit = session_spec(settings).limit
        runs: dict[str, list[Run]] = {"raw": [], "dispatcher": []}
        for _ in range(repeat):  # interleaved, so drift hits both alike
            runs["raw"].append(await raw_run(simulator.port, count))
            runs["dispatcher"].append(await dispatcher_run(simulator.port, count))
        naive = await per_call_run(simulator.port, per_call, limit)
    finally:
        simulator.stop()

    def median(name: str) -> Run:
        chosen = sorted(runs[name], key=lambda run: run.rate)
        return chosen[len(chosen) // 2]

    raw, dispatcher = median("raw"), median("dispatcher")
    print(
        f"Push dispatch: {count} notifications per run (median of {repeat}), {CALLERS} "
        f"callers, connector limit {limit}, simulator latency {latency_ms:g} ms"
    )
    print(f"{'client':<30} {'notifications/s':>15} {'TCP connections':>16} {'failures':>9}")
    for run in (dispatcher, raw, naive):
        print(f"{run.name:<30} {run.rate:15.0f} {run.connections:16d} {run.failures:9d}")
    print(f"dispatcher / raw aiohttp:       {dispatcher.rate / raw.rate:.2f} (target >= 0.80)")
    print(
        f"session per call / dispatcher:  {naive.rate / dispatcher.rate:.2f}  "
        f"({naive.notifications} notifications, {limit} at once; connections per "
        f"notification {naive.connections / naive.notifications:.2f})"
    )
    print(
        f"every run, dispatcher: {[round(r.rate) for r in runs['dispatcher']]}, "
        f"raw: {[round(r.rate) for r in runs['raw']]}; dispatcher's most requests in "
        f"flight: {max(r.max_in_flight for r in runs['dispatcher'])}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.push")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-call", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.latency_ms, args.repeat, args.per_call))
