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
import contextlib
import errno
import json
import math
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from local import nhsim, servicebus
from local.front import start_front
from local.platform import Platform
from local.process import ROOT, Child
from local.tokens import issue_token
from shared.platform.clients import Clients
from shared.platform.config import load_settings
from shared.platform.messaging import Outgoing, ServiceBusSender
from shared.push.settings import push_hubs
from tests.unit.push.factories import fiscal_code

PORTS = (40000, 40127)  # 128 outbound ports
LISTENERS = (20000, 29999)  # the range while the emulators bind their listeners
FRONT_PORT = 9443
HOST_PORT = 7071
FRONT_SOURCE = "127.0.0.2"  # the front's own hop to the services: not the app's budget
FUNCTION_KEY = "outage-function-key"
ADMIN_KEY = "outage-admin-key"
PAN = "4242424242424242"
SAMPLE_SECONDS = 0.1
PROBE_SECONDS = 0.2
SLOW_SECONDS = 5.0  # a non-push call this slow counts as delayed (a new Service Bus
# connection takes about 1 s here, a wallet request a few ms)
_TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "06": "TIME_WAIT", "0A": "LISTEN"}


@dataclass(frozen=True)
class Options:
    pushes: int = 5000
    citizens: int = 100
    per_call: bool = False
    baseline_seconds: float = 5.0
    storm_seconds: float = 90.0
    wallet_rate: float = 20.0
    bus_rate: float = 2.0
    fresh_bus_every: float = 2.0
    timeline: bool = False
    settle: bool = False


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


class CountingChild(Child):
    """A child whose every output line is looked at (``Child`` keeps only the last ones)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.eaddrnotavail_lines = 0
        super().__init__(*args, **kwargs)

    def _remember(self, line: str) -> None:
        if "Cannot assign requested address" in line:
            self.eaddrnotavail_lines += 1
        super()._remember(line)


def behind_front(env: dict[str, str]) -> dict[str, str]:
    """Service Bus and every hub pointed at the front: one destination for both."""
    pointed = {"ServiceBusConnection": servicebus.connection_string(FRONT_PORT)}
    for hub in push_hubs(env):
        pointed[f"PUSH_HUB_{hub.index}_CONNECTION"] = nhsim.connection_string(
            FRONT_PORT, key_name=hub.connection.key_name, key=hub.connection.key
        )
    return pointed


# ---------------------------------------------------------------- what the clients record
@dataclass
class Call:
    phase: str
    kind: str
    ok: bool
    seconds: float
    errno: int | None = None
    error: str | None = None


def errno_of(error: BaseException | None) -> int | None:
    """The errno of the first OSError in an exception's chain (SDKs wrap the socket's)."""
    seen = 0
    while error is not None and seen < 12:
        number = getattr(error, "errno", None)
        if isinstance(error, OSError) and isinstance(number, int):
            return number
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def summary(calls: list[Call]) -> dict[str, Any]:
    times = sorted(c.seconds for c in calls)
    failures = [c for c in calls if not c.ok]
    return {
        "calls": len(calls),
        "failures": len(failures),
        "eaddrnotavail": sum(1 for c in calls if c.errno == errno.EADDRNOTAVAIL),
        "slow": sum(1 for c in calls if c.seconds >= SLOW_SECONDS),
        "p50Ms": round(1000 * _quantile(times, 0.5), 2) if times else None,
        "p99Ms": round(1000 * _quantile(times, 0.99), 2) if times else None,
        "maxMs": round(1000 * times[-1], 2) if times else None,
        "errors": dict(Counter((c.error or "?")[:160] for c in failures).most_common(3)),
    }


def _quantile(ordered: list[float], q: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=1000, method="inclusive")[round(q * 1000) - 1]


# ---------------------------------------------------------------- the namespace's sockets
def _endpoint(hex_address: str) -> tuple[str, int]:
    address, port = hex_address.split(":")
    return socket.inet_ntoa(struct.pack("<I", int(address, 16))), int(port, 16)


def sockets_by_destination(names: dict[int, str]) -> dict[str, dict[str, int]]:
    """Sockets holding one of the 128 ports, per destination (named by port) and state."""
    found: dict[str, dict[str, int]] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        _, local_port = _endpoint(fields[1])
        if not PORTS[0] <= local_port <= PORTS[1]:
            continue
        _, remote_port = _endpoint(fields[2])
        state = _TCP_STATES.get(fields[3], "OTHER")
        destination = names.get(remote_port, f"port {remote_port}")
        per_state = found.setdefault(destination, {})
        per_state[state] = per_state.get(state, 0) + 1
    return found


async def can_connect(port: int) -> tuple[bool, int | None]:
    """Could a new connection to 127.0.0.1:port be opened now? Reset at once (no TIME_WAIT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 2
        )
    except OSError as error:
        return False, error.errno
    except TimeoutError:
        return False, None
    finally:
        sock.close()
    return True, None


# ---------------------------------------------------------------- the stage
@dataclass
class Stage:
    """The running platform, front and dev host, and what the clients recorded."""

    options: Options
    platform: Platform
    front: Child
    host: CountingChild
    env: dict[str, str]
    destinations: dict[int, str]
    phase: str = "setup"
    calls: list[Call] = field(default_factory=list)
    probes: dict[str, Counter[str]] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    max_in_use: dict[str, int] = field(default_factory=dict)
    setup_max_in_use: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{HOST_PORT}"

    def mark(self, phase: str) -> None:
        self.phase = phase
        self.marks[phase] = round(time.monotonic() - self.started, 2)

    async def timed(self, kind: str, call: Callable[[], Awaitable[bool]]) -> None:
        phase = self.phase
        began = time.perf_counter()
        try:
            ok = await call()
        except Exception as error:
            self.calls.append(
                Call(phase, kind, False, time.perf_counter() - began, errno_of(error), _text(error))
            )
            return
        self.calls.append(Call(phase, kind, ok, time.perf_counter() - began))

    # ------------------------------------------------------------ background loops
    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            counts = sockets_by_destination(self.destinations)
            for destination, states in counts.items():
                in_use = sum(states.values())
                self.max_in_use[destination] = max(self.max_in_use.get(destination, 0), in_use)
            if self.options.timeline:
                self.timeline.append(
                    {
                        "t": round(time.monotonic() - self.started, 2),
                        "phase": self.phase,
                        "sockets": counts,
                    }
                )
            await _pause(stop, SAMPLE_SECONDS)

    async def probe(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for port, name in self.destinations.items():
                if name not in ("front", "cosmos", "devhost"):
                    continue
                ok, number = await can_connect(port)
                tally = self.probes.setdefault(f"{self.phase}:{name}", Counter())
                tally["attempts"] += 1
                if not ok:
                    tally["eaddrnotavail" if number == errno.EADDRNOTAVAIL else "other"] += 1
            await _pause(stop, PROBE_SECONDS)

    async def at_rate(
        self, stop: asyncio.Event, rate: float, call: Callable[[int], Awaitable[None]]
    ) -> None:
        """Start ``call(i)`` ``rate`` times a second, whatever the earlier ones take."""
        pending: set[asyncio.Task[None]] = set()
        began = time.monotonic()
        i = 0
        while not stop.is_set():
            task = asyncio.create_task(call(i))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
            await _pause(stop, max(0.0, began + i / rate - time.monotonic()))
        await asyncio.gather(*pending, return_exceptions=True)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


# ---------------------------------------------------------------- the app's traffic
class Traffic:
    """The requests the clients make, through the dev host and the app's own sender."""

    def __init__(self, stage: Stage, session: aiohttp.ClientSession) -> None:
        self.stage = stage
        self.session = session
        self.env = stage.env
        self.keys = stage.platform.keys
        self.wallet_citizen = ""
        self.wallet_id = ""
        self.sender_key = stage.env.get("DEV_PARTY_KEY_SENDER")
        self.now = datetime.now().astimezone()
        self._wallet_headers: dict[str, str] = {}

    def headers(self, citizen: str | None = None) -> dict[str, str]:
        headers = {"x-functions-key": FUNCTION_KEY}
        if citizen is not None:
            headers["Authorization"] = f"Bearer {self.token(citizen)}"
        return headers

    def token(self, citizen: str) -> str:
        return issue_token(
            self.keys.private_pem,
            citizen,
            issuer=self.env["CITIZEN_JWT_ISSUER"],
            audience=self.env["CITIZEN_JWT_AUDIENCE"],
            now=self.now,
        )

    async def read_clock(self) -> None:
        async with self.session.get(
            f"{self.stage.url}/admin/devclock", headers={"x-functions-key": ADMIN_KEY}
        ) as response:
            self.now = datetime.fromisoformat((await response.json())["now"])

    async def register(self, citizens: list[str]) -> None:
        bound = asyncio.Semaphore(16)

        async def one(n: int, citizen: str) -> None:
            async with (
                bound,
                self.session.put(
                    f"{self.stage.url}/api/v1/push/installations",
                    headers=self.headers(citizen),
                    json={"platform": "APNS", "pushChannel": f"{n:064x}"},
                ) as response,
            ):
                text = await response.text()
                if response.status != 202:
                    raise RuntimeError(f"register: {response.status} {text[:300]}")

        await asyncio.gather(*(one(n, c) for n, c in enumerate(citizens)))

    async def onboard(self, citizen: str) -> None:
        """One card through the PSP simulator's test API, until the wallet shows it."""
        self.wallet_citizen = citizen
        async with self.session.post(
            f"{self.stage.url}/api/v1/wallet/instruments",
            headers=self.headers(citizen),
            json={"type": "CARD", "applications": ["PAGOPA"]},
        ) as response:
            started = await response.json()
            if response.status != 201:
                raise RuntimeError(f"onboarding: {response.status} {started}")
        self.wallet_id = started["walletId"]
        session = urlsplit(started["redirectUrl"]).path.rsplit("/", 1)[-1]
        card = {
            "outcome": "OK",
            "pan": PAN,
            "expiryMonth": 12,
            "expiryYear": self.now.year + 3,
            "threeDsCode": "123456",
        }
        psp = self.env["WALLET_PSP_BASE_URL"]
        async with self.session.post(
            f"{psp}/test/sessions/{session}/complete", json=card
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"PSP: {response.status} {await response.text()}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with self.session.get(
                f"{self.stage.url}/api/v1/wallet/instruments/{self.wallet_id}",
                headers=self.headers(citizen),
            ) as response:
                if response.status == 200 and (await response.json())["status"] == "VALIDATED":
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError("the onboarded card was never VALIDATED")

    async def wallet(self, i: int) -> None:
        """A list or a read of the onboarded card, alternately (Cosmos behind each)."""
        path = "/api/v1/wallet/instruments"
        if i % 2:
            path += f"/{self.wallet_id}"
        headers = self._wallet_headers

        async def call() -> bool:
            async with self.session.get(f"{self.stage.url}{path}", headers=headers) as response:
                await response.read()
                return response.status == 200

        await self.stage.timed("wallet", call)

    def wallet_headers(self) -> None:
        """One token for the wallet traffic (signing one per request would be the load)."""
        self._wallet_headers = self.headers(self.wallet_citizen)

    async def bus_route(self, i: int) -> None:
        """A route whose handling sends to a queue: a write and its event on the app's shared
        sender (``published`` false when the send failed and the event waits in its outbox)."""

        async def call() -> bool:
            async with self.session.post(
                f"{self.stage.url}/api/tests/outbox", headers=self.headers()
            ) as response:
                body = await response.json()
                return response.status == 201 and bool(body.get("published"))

        await self.stage.timed("busRoute", call)

    async def bus_fresh(self, i: int) -> None:
        """The app's own sender on fresh clients: a Service Bus send that needs a new
        connection, as a worker that starts or reconnects makes one."""
        values = {**self.env, "SERVICEBUS_TIMEOUT_SECONDS": "15"}
        settings = load_settings(values)

        async def call() -> bool:
            clients = Clients(settings)
            try:
                await ServiceBusSender(clients).send(
                    self.env["TEST_QUEUE_OUT"],
                    [Outgoing.json(f"fresh-{uuid.uuid4()}", {"probe": i})],
                )
            finally:
                await clients.close()
            return True

        await self.stage.timed("busNewConnection", call)

    async def notify(self, citizens: list[str], pushes: int) -> int:
        """Request ``pushes`` notifications, each request to up to len(citizens) of them;
        returns how many the app accepted."""
        requests = math.ceil(pushes / len(citizens))
        accepted = 0
        bound = asyncio.Semaphore(4)
        headers = self.headers()
        if self.sender_key:  # the sender role, where the push API asks for it
            headers["Ocp-Apim-Subscription-Key"] = self.sender_key

        async def one(r: int) -> None:
            nonlocal accepted
            recipients = citizens[: min(len(citizens), pushes - r * len(citizens))]
            body = {
                "fiscalCodes": recipients,
                "title": "Cashback",
                "body": "Your refund is on its way",
                "notificationId": f"storm-{r}",
            }
            async with (
                bound,
                self.session.post(
                    f"{self.stage.url}/api/v1/push/notifications", headers=headers, json=body
                ) as response,
            ):
                answer = await response.json()
                if response.status == 202:
                    accepted += int(answer["recipients"])

        await asyncio.gather(*(one(r) for r in range(requests)))
        return accepted


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
            for kind in ("wallet", "busRoute", "busNewConnection")
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
            # Where the PSP posts the card's outcome, set as the infra sets it: the dev host
            # fills it only when it starts, and the 2020 client's root (tests/app.py) reads
            # the settings earlier, when the app is imported.
            "WALLET_NOTIFICATION_URL": (
                f"http://127.0.0.1:{HOST_PORT}/api/v1/wallet/psp/notifications"
            ),
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
        timeline=args.timeline,
        settle=args.settle,
    )
    sys.stdout.write(json.dumps(run(options)) + "\n")


if __name__ == "__main__":
    main()
