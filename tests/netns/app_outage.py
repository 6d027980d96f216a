"""Run INSIDE a fresh network namespace (``unshare -n python -m tests.netns.app_outage``): the
December 2020 outage through the whole app.

Everything runs here: the Cosmos emulator, the Service Bus broker, the Notification Hubs
simulator and the front that serves the last two on ONE address and port (``local/front.py``),
the dev host serving the test app, and the clients below. The namespace has 128 outbound ports
(Azure's SNAT preallocation per instance and destination; Linux, like Azure, counts them per
destination address and port) and no early reuse of TIME_WAIT ports (Azure holds a closed SNAT
port for 240 s, Linux for 60 s, longer than a run). Every listener binds while the port range
is still a wide one of its own, so none takes one of the 128.

Phases, timed by the clients here:

1. set-up: citizens register their devices through the push API, one citizen onboards a card;
2. baseline: wallet requests (list and read, through a keep-alive client at a fixed rate),
   Service Bus sends through the app (``POST /api/tests/outbox``: a write and its event sent on
   the app's shared sender) and Service Bus sends that need a new connection (the app's own
   sender on fresh clients, as a worker that starts or reconnects), with nothing else going on;
3. storm: the same traffic while notifications are requested through the push API and the
   app's queue function dispatches them to the hubs; until every one is delivered or the
   storm's time is up.

All along, every 100 ms, the outbound sockets that hold one of the 128 ports are counted per
destination (``/proc/net/tcp``), and every 200 ms a bare connect to each destination says
whether a new connection could be opened there (it is reset at once, so it leaves no
TIME_WAIT behind).

``--per-call`` runs the dev host with the 2020 push client (a new session per call, set by
``tests/app.py`` only). Prints one JSON line with the figures; ``test_app_outage.py`` asserts
on them, ``bench/outage.py`` prints and draws them.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from local import nhsim, servicebus
from local.front import start_front
from local.platform import Platform
from local.process import ROOT, Child
from shared.platform.config import load_settings
from shared.push.settings import push_hubs
from tests.netns.measure import (
    PORTS,
    sockets_by_destination,
    summary,
)
from tests.netns.stage import HOST_PORT, CountingChild, Options, Stage
from tests.netns.traffic import ADMIN_KEY, FUNCTION_KEY, Traffic
from tests.unit.push.factories import fiscal_code

LISTENERS = (20000, 29999)  # the range while the emulators bind their listeners
FRONT_PORT = 9443
FRONT_SOURCE = "127.0.0.2"  # the front's own hop to the services: not the app's budget
KINDS = ("wallet", "busRoute", "busNewConnection", "hostBare", "cosmosBare")


def prepare_namespace() -> None:
    """Loopback up, no early reuse of TIME_WAIT ports, the listeners' range for now."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    Path("/proc/sys/net/ipv4/tcp_tw_reuse").write_text("0\n")
    port_range(LISTENERS)


def port_range(ports: tuple[int, int]) -> list[str]:
    path = Path("/proc/sys/net/ipv4/ip_local_port_range")
    path.write_text(f"{ports[0]} {ports[1]}\n")
    return path.read_text().split()


def base_values() -> dict[str, str]:
    values: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ]
    values.update(
        LOCAL_FUNCTION_KEY=FUNCTION_KEY,
        LOCAL_ADMIN_KEY=ADMIN_KEY,
        COSMOS_DATABASE="outage",
        SERVICEBUS_MAX_DELIVERY_COUNT="3",
        HEALTH_CACHE_SECONDS="0",
        LOG_LEVEL="WARNING",
    )
    return values


def consumers_except(keep: set[str]) -> dict[str, str]:
    """``AzureWebJobs.<name>.Disabled`` for every queue function of the test app but ``keep``:
    each consumer holds a connection to the front, and only the push queue's is wanted."""
    from local.devhost import functions_of
    from tests.app import app

    return {
        f"AzureWebJobs.{fn.name}.Disabled": "true"
        for fn in functions_of(app)
        if fn.kind == "serviceBusTrigger" and fn.name not in keep
    }


def behind_front(env: dict[str, str]) -> dict[str, str]:
    """Service Bus and every hub pointed at the front: one destination for both."""
    pointed = {"ServiceBusConnection": servicebus.connection_string(FRONT_PORT)}
    for hub in push_hubs(env):
        pointed[f"PUSH_HUB_{hub.index}_CONNECTION"] = nhsim.connection_string(
            FRONT_PORT, key_name=hub.connection.key_name, key=hub.connection.key
        )
    return pointed


# ---------------------------------------------------------------- the run
def failed_work(stage: Stage) -> dict[str, int]:
    from azure.cosmos import CosmosClient

    settings = load_settings(stage.env)
    client = CosmosClient(settings.cosmos_endpoint, credential=settings.cosmos_key or "")
    container = client.get_database_client(settings.cosmos_database).get_container_client(
        settings.failed_work_container
    )
    records = list(container.read_all_items())
    text = "Cannot assign requested address"
    return {
        "records": len(records),
        "eaddrnotavail": sum(1 for r in records if text in json.dumps(r)),
    }


async def delivered(control: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    async with control.get(f"http://127.0.0.1:{port}/_sim/stats") as response:
        result: dict[str, Any] = await response.json()
        return result


async def settle(stage: Stage, longest: float = 75.0) -> None:
    """Wait until no port to the front is held in TIME_WAIT (they go after 60 s), so the
    baseline starts from what the connections in use hold, whatever the set-up left behind."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        front = sockets_by_destination(stage.destinations).get("front", {})
        if not front.get("TIME_WAIT"):
            return
        await asyncio.sleep(1)


async def storm(
    stage: Stage, traffic: Traffic, control: aiohttp.ClientSession, citizens: list[str]
) -> tuple[dict[str, Any], dict[str, Any], int, float]:
    """The baseline, then the storm, with the wallet and Service Bus traffic all along:
    the simulator's counters before and after the storm, notifications accepted, seconds."""
    options = stage.options
    nhsim_port = stage.platform.nhsim.port
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(stage.probe(stop)),
        asyncio.create_task(stage.at_rate(stop, options.wallet_rate, traffic.wallet)),
        asyncio.create_task(stage.at_rate(stop, options.bus_rate, traffic.bus_route)),
        asyncio.create_task(stage.at_rate(stop, 1 / options.fresh_bus_every, traffic.bus_fresh)),
        asyncio.create_task(stage.at_rate(stop, options.bare_rate, traffic.host_bare)),
        asyncio.create_task(stage.at_rate(stop, options.bare_rate, traffic.cosmos_bare)),
    ]
    try:
        await asyncio.sleep(options.baseline_seconds)
        before = await delivered(control, nhsim_port)
        stage.mark("storm")
        began = time.monotonic()
        accepted = await traffic.notify(citizens, options.pushes)
        after = before
        while time.monotonic() < began + options.storm_seconds:
            after = await delivered(control, nhsim_port)
            if after["delivered"] - before["delivered"] >= accepted:
                break
            await asyncio.sleep(0.5)
        return before, after, accepted, time.monotonic() - began
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)


async def drive(stage: Stage) -> dict[str, Any]:
    options = stage.options
    connector = aiohttp.TCPConnector(limit=64, limit_per_host=64, keepalive_timeout=120)
    timeout = aiohttp.ClientTimeout(total=30)
    control_connector = aiohttp.TCPConnector(limit=1, keepalive_timeout=120)
    nhsim_port = stage.platform.nhsim.port
    stop = asyncio.Event()
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        aiohttp.ClientSession(connector=control_connector, timeout=timeout) as control,
    ):
        sampler = asyncio.create_task(stage.sample(stop))
        try:
            traffic = Traffic(stage, session)
            await traffic.read_clock()
            citizens = [fiscal_code(n) for n in range(options.citizens)]
            await traffic.register(citizens)
            deadline = time.monotonic() + 60
            while (await delivered(control, nhsim_port))["installations"] < len(citizens):
                if time.monotonic() > deadline:
                    raise RuntimeError("the installations never reached the hubs")
                await asyncio.sleep(0.2)
            await traffic.onboard(citizens[0])
            traffic.wallet_headers()
            if options.settle:
                await settle(stage)
            stage.setup_max_in_use = dict(stage.max_in_use)
            stage.max_in_use.clear()
            stage.mark("baseline")
            before, after, accepted, storm_seconds = await storm(stage, traffic, control, citizens)
        finally:
            stop.set()
            await sampler
        stage.mark("done")
    by_phase = {
        phase: {
            kind: summary([c for c in stage.calls if c.phase == phase and c.kind == kind])
            for kind in KINDS
        }
        for phase in ("baseline", "storm")
    }
    return {
        "requested": options.pushes,
        "accepted": accepted,
        "delivered": after["delivered"] - before["delivered"],
        "stormSeconds": round(storm_seconds, 2),
        "simulator": {
            "connections": after["connections"] - before["connections"],
            "maxRequestsPerConnection": after["maxRequestsPerConnection"],
        },
        "calls": by_phase,
        "probes": {key: dict(value) for key, value in sorted(stage.probes.items())},
    }


def start_stage(options: Options, state: Path) -> Stage:
    prepare_namespace()
    platform = Platform(state, base_values(), azurite=False)
    front: Child | None = None
    try:
        platform.provision()
        front = start_front(
            platform.broker.port, platform.nhsim.port, port=FRONT_PORT, source=FRONT_SOURCE
        )
        env = {
            **platform.env,
            **behind_front(platform.env),
            **consumers_except({"push_queue"}),
            "TEST_QUEUE_OUT": f"outage-out-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": "WARNING",
            # The base of the routes the gateway posts the card's outcome to, set as the infra
            # sets it: the dev host fills it only when it starts, and the 2020 client's root
            # (tests/app.py) reads the settings earlier, when the app is imported.
            "WALLET_NOTIFICATION_URL": f"http://127.0.0.1:{HOST_PORT}/api/v1/wallets",
        }
        if options.per_call:
            env["TEST_PUSH_SESSION_PER_CALL"] = "1"
        for which in ("OK", "TRANSIENT", "RESCHEDULE", "PERMANENT", "TIMER", "SLOW"):
            env[f"TEST_QUEUE_{which}"] = f"outage-{which.lower()}"
        port_range(PORTS)  # from here on every outbound connection takes one of the 128
        host = CountingChild(
            "devhost",
            [
                sys.executable,
                "-m",
                "local.devhost",
                "--app",
                "tests.app",
                "--port",
                str(HOST_PORT),
                "--clock-file",
                str(platform.clock_file),
            ],
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
    except BaseException:
        if front is not None:
            front.stop()
        platform.stop()
        raise
    destinations = {
        FRONT_PORT: "front",
        HOST_PORT: "devhost",
        platform.cosmos.port: "cosmos",
        platform.broker.port: "broker (front's hop)",
        platform.nhsim.port: "hubs (front's hop)",
        platform.psp.port: "psp",
    }
    return Stage(options, platform, front, host, env, destinations)


def run(options: Options) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="outage-") as state:
        stage = start_stage(options, Path(state))
        try:
            figures = asyncio.run(drive(stage))
            figures["failedWork"] = failed_work(stage)
        finally:
            stage.host.stop()
            stage.front.stop()
            stage.platform.stop()
    figures.update(
        mode="per-call" if options.per_call else "shared",
        portRange=list(PORTS),
        maxSocketsInUse=stage.max_in_use,
        maxSocketsInUseDuringSetup=stage.setup_max_in_use,
        devhostLogEaddrnotavail=stage.host.eaddrnotavail_lines,
        eaddrnotavail=errno.EADDRNOTAVAIL,
        marks=stage.marks,
        cores=stage.cores(),
    )
    if options.timeline:
        figures["timeline"] = stage.timeline
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.netns.app_outage")
    parser.add_argument("--pushes", type=int, default=Options.pushes)
    parser.add_argument("--citizens", type=int, default=Options.citizens)
    parser.add_argument("--per-call", action="store_true")
    parser.add_argument("--baseline-seconds", type=float, default=Options.baseline_seconds)
    parser.add_argument("--storm-seconds", type=float, default=Options.storm_seconds)
    parser.add_argument("--wallet-rate", type=float, default=Options.wallet_rate)
    parser.add_argument("--bus-rate", type=float, default=Options.bus_rate)
    parser.add_argument("--fresh-bus-every", type=float, default=Options.fresh_bus_every)
    parser.add_argument("--bare-rate", type=float, default=Options.bare_rate)
    parser.add_argument("--timeline", action="store_true", help="keep every socket sample")
    parser.add_argument(
        "--settle", action="store_true", help="let the set-up's TIME_WAIT ports go first"
    )
    args = parser.parse_args()
    options = Options(
        pushes=args.pushes,
        citizens=args.citizens,
        per_call=args.per_call,
        baseline_seconds=args.baseline_seconds,
        storm_seconds=args.storm_seconds,
        wallet_rate=args.wallet_rate,
        bus_rate=args.bus_rate,
        fresh_bus_every=args.fresh_bus_every,
        bare_rate=args.bare_rate,
        timeline=args.timeline,
        settle=args.settle,
    )
    sys.stdout.write(json.dumps(run(options)) + "\n")


if __name__ == "__main__":
    main()
