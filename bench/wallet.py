"""Benchmark of the wallet through the dev host, beside a bare aiohttp handler doing the same
Cosmos operations with the same client (``platform.clients`` and the wallet's Cosmos store), each
in a process of its own, in the same run.

Operations, at concurrency 32: the four onboarding steps, each a phase of its own (create;
session, which builds the order at the gateway simulator; validation, which reads the card from
it; the gateway's notification with the session's token), list, read and delete. Between the
session and the validation phases the cards are typed at the simulator, and before the
notifications the sessions' tokens are read from it, untimed: that is the citizen's and the
gateway's work, not the wallet's. Then the Cosmos round trips of one operation of each kind,
counted at the emulator (``GET /_emulator/stats``).

The delete has a second baseline beside it, a reference only: the bare handler's delete that also
sends its event through the app's own Service Bus sender (``platform.messaging``, same client),
before it answers (the wallet sends its events after answering, in one batch with other
requests'). Its ratio says how much of the gap the send is; the target is against the bare
handler without it.

The host runs the whole app, as deployed, except the consumers of the wallet's events queue
(cashback's): they are another capability's work, done off the wallet's requests, and the
baseline does not do it either. The outbox sweep is measured as a phase of its own, after the
requests: the wallet leaves its outboxes to it (cleared once older than 30 s; the events are
re-sent first only by a process that did not send them), and its 30-s timer, left running,
fell into whichever phase it happened to (a run of 500 outboxes was ~0.4 s of the host's CPU:
a delete phase it fell into measured 0.57 instead of 0.67-0.70). Its cost per outbox is
printed after the requests'. Each side has a database of its own on the one emulator: the
emulator scans a whole container for every query (a real account reads one partition), so in a
shared container whichever side ran second paid for the first one's documents.

Run: ``make bench`` or ``python -m bench.wallet``. Prints figures and ratios; asserts nothing.
(``python -m bench.wallet bare`` is the baseline server it starts.)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import Figures, load
from local.cosmos import stats
from local.devclock import DevClock
from local.platform import Platform
from local.process import ROOT, Child
from local.tokens import issue_token
from shared.auth.fiscal_code import check_character
from shared.wallet.instruments import token_hash

FUNCTION_KEY = "bench-function-key"
ADMIN_KEY = "bench-admin-key"
CITIZENS = 400
PER_CITIZEN = 6  # instruments each citizen onboards (the limit is 20 live)
TOTAL = 2000  # each phase runs for seconds, not a fraction of one: steadier ratios
INSTRUMENTS = "/api/v1/wallets"
CARD_METHOD = "3ebea7a1-2e77-4a1b-ac1b-3aca0d67f813"
WARMUP = 50
BARE_DATABASE = "bench-wallet-bare"
TARGETS = {
    "list": 1,
    "read": 1,
    "create": 3,
    "session": 2,
    "validation": 2,
    "notification": 2,
    "delete": 2,
}
SWEEP = "sweep_outboxes"  # the outbox sweep's timer function (disabled during the requests)
SWEEP_LIMIT = 500  # outboxes per container per run (Outbox.sweep)
TICK = os.sysconf("SC_CLK_TCK")


def settings() -> dict[str, str]:
    values: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ]
    values.update(
        LOCAL_FUNCTION_KEY=FUNCTION_KEY,
        LOCAL_ADMIN_KEY=ADMIN_KEY,
        COSMOS_DATABASE="bench-wallet",
        LOG_LEVEL="WARNING",
    )
    return values


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def without_event_consumers() -> dict[str, str]:
    """Settings that disable the app's consumers of WALLET_EVENTS_QUEUE (Azure's switch)."""
    from function_app import app

    disabled = {}
    for fn in app.get_functions():
        trigger = fn.get_trigger()
        if trigger and trigger.get_dict_repr().get("queueName") == "%WALLET_EVENTS_QUEUE%":
            disabled[f"AzureWebJobs.{fn.get_function_name()}.Disabled"] = "true"
    return disabled


def fiscal_code(n: int) -> str:
    first15 = f"RSSMRA85T10A{n:03d}"
    return first15 + check_character(first15)


@dataclass
class Opened:
    """A host-side onboarding between its steps."""

    cf: str
    wallet_id: str
    order_id: str
    session: str
    token: str = ""


@dataclass
class Paired:
    """A phase's figures on each side, and each server's CPU seconds per request."""

    host: Figures
    host_cpu: float
    bare: Figures
    bare_cpu: float
    sending: Figures | None = None  # the delete's reference
    sending_cpu: float | None = None


def _merged(runs: list[Figures]) -> Figures:
    if len(runs) == 1:
        return runs[0]
    return Figures(
        runs[0].name,
        sum(r.requests for r in runs),
        sum(r.seconds for r in runs),
        sum(r.p50_ms for r in runs) / len(runs),
        max(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
    )


# ---------------------------------------------------------------------- the baseline server
async def serve_bare(port: int) -> None:
    """The same Cosmos operations as the wallet, on documents of the same shape and size,
    without the Functions edge, auth, the PSP, validation, models or Service Bus (but for the
    delete's reference, ``?send=1``, which also sends its event with the app's sender)."""
    from shared.platform.clients import get_clients
    from shared.platform.collector import pace_collector
    from shared.platform.messaging import Outgoing, ServiceBusSender
    from shared.wallet.models import fixed_time
    from shared.wallet.store import CosmosWalletStore

    pace_collector()  # the worker's collector setting (functions.root sets it in the host)

    clients = get_clients()
    s = clients.settings
    container = clients.container(s.wallet_container)
    store = CosmosWalletStore(container, s.cosmos_timeout_seconds)

    def since() -> str:
        return fixed_time(datetime.now(UTC) - timedelta(minutes=30))

    async def listing(request: web.Request) -> web.Response:
        found = await store.current(request.match_info["pk"], pending_since=since())
        return web.json_response({"instruments": [d["id"] for d in found]})

    async def read(request: web.Request) -> web.Response:
        found = await store.get(request.match_info["pk"], request.match_info["id"])
        return web.json_response(
            {"walletId": found["id"] if found else None}, status=200 if found else 404
        )

    def event(type_: str, document: dict[str, Any], now: datetime) -> dict[str, Any]:
        # What the wallet's outbox holds: the event, its queue and its data.
        return {
            "id": str(uuid.uuid4()),
            "type": type_,
            "queue": s.wallet_events_queue,
            "data": {
                "walletId": document["id"],
                "userId": document["pk"],
                "hpan": document.get("hpan"),
                "type": document["type"],
                "brand": "VISA",
                "applications": document["applications"],
            },
            "createdAt": now.isoformat(),
        }

    async def create(request: web.Request) -> web.Response:
        pk, now = request.match_info["pk"], datetime.now(UTC)
        wallet_id = "w" + base64.urlsafe_b64encode(os.urandom(60)).decode()
        await store.current(pk, pending_since=since())
        document = {
            "id": wallet_id,
            "pk": pk,
            "kind": "instrument",
            "paymentMethodId": CARD_METHOD,
            "type": "CARD",
            "status": "CREATED",
            "applications": {"PAGOPA": "ENABLED"},
            "pspId": "DEMOPSP",
            "createdAt": fixed_time(now),
            "updatedAt": fixed_time(now),
            "ttl": 90 * 86400,
        }
        await store.create(document)
        return web.json_response({"walletId": wallet_id}, status=201)

    async def session(request: web.Request) -> web.Response:
        pk, wallet_id, now = request.match_info["pk"], request.match_info["id"], datetime.now(UTC)
        found = await store.get(pk, wallet_id)
        assert found is not None
        found.update(
            status="INITIALIZED",
            orderId=uuid.uuid4().hex[:18].upper(),
            sessionId=uuid.uuid4().hex,
            contractId="W" + uuid.uuid4().hex[:18],
            tokenHash=token_hash(uuid.uuid4().hex),
            tokenUntil=fixed_time(now + timedelta(minutes=90)),
            updatedAt=fixed_time(now),
        )
        await store.replace(found)
        return web.json_response({"orderId": found["orderId"]})

    async def validate(request: web.Request) -> web.Response:
        pk, wallet_id, now = request.match_info["pk"], request.match_info["id"], datetime.now(UTC)
        found = await store.get(pk, wallet_id)
        assert found is not None
        found.update(
            status="VALIDATION_REQUESTED",
            details={
                "type": "CARDS",
                "bin": "424242",
                "lastFourDigits": "4242",
                "expiryDate": f"{now.year + 3}12",
                "brand": "VISA",
            },
            updatedAt=fixed_time(now),
        )
        await store.replace(found)
        return web.json_response({"orderId": found["orderId"]})

    async def notify(request: web.Request) -> web.Response:
        # The wallet finds the partition in the walletId; here the path names it.
        pk, wallet_id, now = request.match_info["pk"], request.match_info["id"], datetime.now(UTC)
        found = await store.for_notification(pk, wallet_id)
        document = next(d for d in found if d["id"] == wallet_id)
        document.pop("ttl", None)
        document.update(
            status="VALIDATED",
            hpan=hashlib.sha256(os.urandom(8)).hexdigest(),
            paymentInstrumentGatewayId=uuid.uuid4().hex,
            operationId=uuid.uuid4().hex,
            operationResult="EXECUTED",
            validatedAt=fixed_time(now),
            updatedAt=fixed_time(now),
        )
        document["outbox"] = [event("InstrumentValidated", document, now)]
        await store.replace(document)  # the outbox is cleared later, by the sweep
        return web.json_response({"walletId": wallet_id})

    sender = ServiceBusSender(clients)  # the app's group-commit sender, on the same client

    async def delete(request: web.Request) -> web.Response:
        found = await store.get(request.match_info["pk"], request.match_info["id"])
        assert found is not None
        now = datetime.now(UTC)
        added = event("InstrumentDeleted", found, now)
        await store.replace(
            {
                **found,
                "status": "DELETED",
                "updatedAt": fixed_time(now),
                "ttl": 90 * 86400,
                "outbox": [*found.get("outbox", []), added],
            }
        )
        if request.query.get("send"):  # the reference: the event sent too, as the wallet does
            payload = {k: added[k] for k in ("id", "type", "createdAt", "data")}
            await sender.send(
                added["queue"],
                [Outgoing.json(added["id"], payload, properties={"type": added["type"]})],
            )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/list/{pk}", listing)
    app.router.add_get("/read/{pk}/{id}", read)
    app.router.add_post("/create/{pk}", create)
    app.router.add_post("/session/{pk}/{id}", session)
    app.router.add_post("/validate/{pk}/{id}", validate)
    app.router.add_post("/notify/{pk}/{id}", notify)
    app.router.add_delete("/delete/{pk}/{id}", delete)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


# ---------------------------------------------------------------------- the load
class Bench:
    def __init__(
        self, platform: Platform, host_url: str, bare_url: str, host_pid: int, bare_pid: int
    ) -> None:
        self.host = host_url
        self.bare = bare_url
        self.host_pid = host_pid
        self.bare_pid = bare_pid
        self.clock = DevClock(platform.clock_file)
        self.cosmos_port = platform.cosmos.port
        self.env = platform.env
        self.psp = platform.env["WALLET_PSP_BASE_URL"]
        self.user_key = json.loads(platform.env["LOCAL_SECRETS"])["wallet-user-id-key"]
        env = platform.env
        now = self.clock.now()
        self.citizens = [fiscal_code(n) for n in range(CITIZENS)]
        self.tokens = {
            cf: issue_token(
                platform.keys.private_pem,
                cf,
                issuer=env["CITIZEN_JWT_ISSUER"],
                audience=env["CITIZEN_JWT_AUDIENCE"],
                now=now,
                ttl_seconds=6 * 3600,
            )
            for cf in self.citizens
        }
        self.host_wallets: list[tuple[str, str]] = []  # (fiscal code, walletId)
        self.bare_wallets: list[tuple[str, str]] = []  # (pk, walletId)
        # onboardings between phases: created, then with their session, then validated
        self.failures: collections.Counter[str] = collections.Counter()
        self.host_created: list[tuple[str, str]] = []
        self.host_opened: list[Opened] = []
        self.host_asked: list[Opened] = []
        self.bare_created: list[tuple[str, str]] = []
        self.bare_opened: list[tuple[str, str]] = []
        self.bare_asked: list[tuple[str, str]] = []
        self.bare_again: list[tuple[str, str]] = []  # the same, for the delete's reference
        self.hpans = itertools.count()

    def citizen(self, i: int) -> str:
        return self.citizens[i % CITIZENS]

    def bare_pk(self, i: int) -> str:
        """The baseline's partition of citizen ``i``: a hash, as long as the wallet's."""
        return hashlib.sha256(f"bare-{self.citizen(i)}".encode()).hexdigest()

    def headers(self, cf: str) -> dict[str, str]:
        return {"x-functions-key": FUNCTION_KEY, "Authorization": f"Bearer {self.tokens[cf]}"}

    # -------------------------------------------------------------- the onboarding's steps
    async def host_create(self, session: aiohttp.ClientSession, i: int) -> bool:
        cf = self.citizen(i)
        async with session.post(
            self.host + INSTRUMENTS, json={"paymentMethodId": CARD_METHOD}, headers=self.headers(cf)
        ) as response:
            created = await response.json()
            if response.status != 201:
                self.failures[f"create {response.status} {created.get('detail')}"] += 1
                return False
        self.host_created.append((cf, created["walletId"]))
        return True

    async def bare_create(self, session: aiohttp.ClientSession, i: int) -> bool:
        pk = self.bare_pk(i)
        async with session.post(f"{self.bare}/create/{pk}") as response:
            wallet_id = (await response.json())["walletId"]
            self.bare_created.append((pk, wallet_id))
            return response.status == 201

    async def host_session(self, session: aiohttp.ClientSession, i: int) -> bool:
        if not self.host_created:
            return False
        cf, wallet_id = self.host_created.pop()
        async with session.post(
            f"{self.host}{INSTRUMENTS}/{wallet_id}/sessions", json={}, headers=self.headers(cf)
        ) as response:
            opened = await response.json()
            if response.status != 200:
                self.failures[f"session {response.status} {opened.get('detail')}"] += 1
                return False
        gateway_session = opened["sessionData"]["redirectUrl"].rsplit("/", 1)[-1]
        self.host_opened.append(Opened(cf, wallet_id, opened["orderId"], gateway_session))
        return True

    async def bare_session(self, session: aiohttp.ClientSession, i: int) -> bool:
        pk, wallet_id = self.bare_created.pop()
        async with session.post(f"{self.bare}/session/{pk}/{wallet_id}") as response:
            await response.read()
            self.bare_opened.append((pk, wallet_id))
            return response.status == 200

    async def type_cards(self) -> None:
        """The citizens type their cards on the gateway's page (untimed)."""
        year = self.clock.now().year + 3
        connector = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(opened: Opened) -> None:
                pan = "4242424242424242"
                card = {"pan": pan, "expiryMonth": 12, "expiryYear": year}
                url = f"{self.psp}/test/sessions/{opened.session}/card"
                async with session.post(url, json=card) as response:
                    assert response.status == 200, await response.text()

            await asyncio.gather(*(one(o) for o in self.host_opened))

    async def host_validation(self, session: aiohttp.ClientSession, i: int) -> bool:
        if not self.host_opened:
            return False
        opened = self.host_opened.pop()
        async with session.post(
            f"{self.host}{INSTRUMENTS}/{opened.wallet_id}/sessions/{opened.order_id}/validations",
            headers=self.headers(opened.cf),
        ) as response:
            text = await response.text()
            if response.status != 200:
                self.failures[f"validation {response.status} {text[:160]}"] += 1
                return False
            self.host_asked.append(opened)
            return True

    async def bare_validation(self, session: aiohttp.ClientSession, i: int) -> bool:
        pk, wallet_id = self.bare_opened.pop()
        async with session.post(f"{self.bare}/validate/{pk}/{wallet_id}") as response:
            await response.read()
            self.bare_asked.append((pk, wallet_id))
            return response.status == 200

    async def read_tokens(self) -> None:
        """What the gateway holds for each session: the token it notifies with (untimed)."""
        connector = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(opened: Opened) -> None:
                async with session.get(f"{self.psp}/test/sessions/{opened.session}") as response:
                    opened.token = (await response.json())["token"]

            await asyncio.gather(*(one(o) for o in self.host_asked))

    async def host_notification(self, session: aiohttp.ClientSession, i: int) -> bool:
        if not self.host_asked:
            return False
        opened = self.host_asked.pop()
        body = {
            "timestampOperation": self.clock.now().isoformat(),
            "operationId": uuid.uuid4().hex,
            "operationResult": "EXECUTED",
            "details": {
                "type": "CARD",
                "paymentInstrumentGatewayId": f"bench-card-{next(self.hpans)}",
                "hpan": hashlib.sha256(f"bench-{next(self.hpans)}".encode()).hexdigest(),
            },
        }
        url = (
            f"{self.host}{INSTRUMENTS}/{opened.wallet_id}/sessions/{opened.order_id}/notifications"
        )
        async with session.post(
            url, json=body, headers={"Authorization": f"Bearer {opened.token}"}
        ) as response:
            text = await response.text()
            if response.status != 200:
                self.failures[f"notification {response.status} {text[:160]}"] += 1
                return False
            self.host_wallets.append((opened.cf, opened.wallet_id))
            return True

    async def bare_notification(self, session: aiohttp.ClientSession, i: int) -> bool:
        pk, wallet_id = self.bare_asked.pop()
        async with session.post(f"{self.bare}/notify/{pk}/{wallet_id}") as response:
            await response.read()
            self.bare_wallets.append((pk, wallet_id))
            return response.status == 200

    async def host_list(self, session: aiohttp.ClientSession, i: int) -> bool:
        async with session.get(
            self.host + INSTRUMENTS, headers=self.headers(self.citizen(i))
        ) as response:
            await response.read()
            return response.status == 200

    async def bare_list(self, session: aiohttp.ClientSession, i: int) -> bool:
        async with session.get(f"{self.bare}/list/{self.bare_pk(i)}") as response:
            await response.read()
            return response.status == 200

    async def host_read(self, session: aiohttp.ClientSession, i: int) -> bool:
        cf, wallet_id = self.host_wallets[i % len(self.host_wallets)]
        async with session.get(
            f"{self.host}{INSTRUMENTS}/{wallet_id}", headers=self.headers(cf)
        ) as response:
            await response.read()
            return response.status == 200

    async def bare_read(self, session: aiohttp.ClientSession, i: int) -> bool:
        pk, wallet_id = self.bare_wallets[i % len(self.bare_wallets)]
        async with session.get(f"{self.bare}/read/{pk}/{wallet_id}") as response:
            await response.read()
            return response.status == 200

    async def host_delete(self, session: aiohttp.ClientSession, i: int) -> bool:
        cf, wallet_id = self.host_wallets.pop()
        async with session.delete(
            f"{self.host}{INSTRUMENTS}/{wallet_id}", headers=self.headers(cf)
        ) as response:
            await response.read()
            return response.status == 204

    async def bare_delete(self, session: aiohttp.ClientSession, i: int) -> bool:
        pk, wallet_id = self.bare_wallets.pop()
        async with session.delete(f"{self.bare}/delete/{pk}/{wallet_id}") as response:
            await response.read()
            return response.status == 204

    async def bare_delete_and_send(self, session: aiohttp.ClientSession, i: int) -> bool:
        """The reference: the same delete, then the event sent to Service Bus (on documents the
        baseline deleted already: the same read and replace, with one event more)."""
        pk, wallet_id = self.bare_again.pop()
        async with session.delete(f"{self.bare}/delete/{pk}/{wallet_id}?send=1") as response:
            await response.read()
            return response.status == 204

    # -------------------------------------------------------------- the runs
    async def timed(self, name: str, call: Any, pid: int, total: int) -> tuple[Figures, float]:
        """One load phase, and the CPU seconds per request of the server process ``pid`` in it
        (warmup included)."""
        before = cpu_seconds(pid)
        figures = await load(name, call, total=total, warmup=WARMUP)
        return figures, (cpu_seconds(pid) - before) / (total + WARMUP)

    async def pair(self, name: str, total: int, rounds: int = 1) -> Paired:
        """Bare then host, ``rounds`` times (alternating, so a noisy moment hits both); with
        a ``bare_<name>_and_send`` method, that reference too, between them."""
        host_call = getattr(self, f"host_{name}")
        bare_call = getattr(self, f"bare_{name}")
        sending = getattr(self, f"bare_{name}_and_send", None)
        runs: dict[str, list[tuple[Figures, float]]] = {"host": [], "bare": [], "sending": []}
        for _ in range(rounds):
            runs["bare"].append(
                await self.timed(
                    f"{name}: bare aiohttp + Cosmos", bare_call, self.bare_pid, total // rounds
                )
            )
            if sending is not None:
                runs["sending"].append(
                    await self.timed(
                        f"{name}: bare + Service Bus", sending, self.bare_pid, total // rounds
                    )
                )
            runs["host"].append(
                await self.timed(
                    f"{name}: dev host (wallet)", host_call, self.host_pid, total // rounds
                )
            )

        def side(done: list[tuple[Figures, float]]) -> tuple[Figures, float]:
            return _merged([f for f, _ in done]), sum(c for _, c in done) / len(done)

        paired = Paired(*side(runs["host"]), *side(runs["bare"]))
        if runs["sending"]:
            paired.sending, paired.sending_cpu = side(runs["sending"])
        return paired

    async def throughput(self) -> None:
        steps = CITIZENS * PER_CITIZEN - WARMUP
        onboarding = [await self.pair("create", steps), await self.pair("session", steps)]
        await self.type_cards()
        onboarding.append(await self.pair("validation", steps))
        await self.read_tokens()
        onboarding.append(await self.pair("notification", steps))
        self.bare_again = list(self.bare_wallets)  # deleted once more by the reference
        results = [
            *onboarding,
            await self.pair("list", 3 * TOTAL, rounds=3),
            await self.pair("read", 3 * TOTAL, rounds=3),
            await self.pair("delete", TOTAL, rounds=2),
        ]
        print(
            "\nthroughput at concurrency 32 (onboarding: create, session, validation, notification)"
        )
        for r in results:
            print(r.bare.line())
            if r.sending is not None:
                print(r.sending.line())
            print(r.host.line())
            # an onboarding step's own ratio is information: its target is the four steps
            # together (printed below), since two of them call the gateway simulator
            target = "information" if r in onboarding else "target >= 0.7"
            print(f"{'':<28} ratio host/bare {r.host.rps / r.bare.rps:.2f}  ({target})")
            if r.sending is not None:
                print(
                    f"{'':<28} ratio host/(bare + Service Bus) {r.host.rps / r.sending.rps:.2f}"
                    "  (a reference: the baseline sending the event too)"
                )
            cpu = (
                f"{'':<28} CPU per request: host {1000 * r.host_cpu:.2f} ms "
                f"({r.host_cpu * r.host.rps:.2f} of a core), bare {1000 * r.bare_cpu:.2f} ms "
                f"({r.bare_cpu * r.bare.rps:.2f}): bare/host {r.bare_cpu / r.host_cpu:.2f}"
            )
            if r.sending is not None and r.sending_cpu is not None:
                cpu += (
                    f"; bare + Service Bus {1000 * r.sending_cpu:.2f} ms "
                    f"({r.sending_cpu * r.sending.rps:.2f})"
                )
            print(cpu)
        host_seconds = sum(r.host.seconds for r in onboarding)
        bare_seconds = sum(r.bare.seconds for r in onboarding)
        together = bare_seconds / host_seconds
        print(
            f"onboarding, the four steps together: ratio host/bare {together:.2f}"
            "  (target >= 0.7; the steps' own ratios above are information: the session and the\n"
            "validation call the gateway simulator, which the bare handler does not)"
        )
        print(
            "The host also verifies the citizen's token or the session's token, validates and "
            "answers with the models,\ncalls the gateway simulator (session, validation) and "
            "sends the events to Service Bus (notification,\ndelete); the bare handler only "
            "does the Cosmos operations (the delete's reference also sends its event).\n"
            'CPU per request is each server\'s, from /proc (warmup included); "of a core" '
            "is how busy that kept it.\nWhere both sides keep a core busy (read, delete), "
            "the ratio is their CPU quotient, and a run where\nthe two disagree was "
            "disturbed by the machine; list waits on the emulator (it scans the whole\n"
            "container for every query), session and validation on the gateway simulator too."
        )

    async def sweep(self) -> None:
        """The outboxes the requests left: the sweep clears them, timed alone."""
        from shared.platform.clients import Clients
        from shared.platform.config import load_settings

        clients = Clients(load_settings(self.env))
        container = clients.container(clients.settings.wallet_container)
        query = "SELECT c.id FROM c WHERE IS_DEFINED(c.outbox) AND ARRAY_LENGTH(c.outbox) > 0"

        async def full() -> int:
            return len([d async for d in container.query_items(query)])

        admin = {"x-functions-key": ADMIN_KEY}
        try:
            async with aiohttp.ClientSession() as session:
                # Every outbox is old enough to sweep once the host's clock is 31 s later.
                async with session.post(
                    f"{self.host}/admin/devclock", headers=admin, json={"advanceSeconds": 31}
                ) as response:
                    assert response.status == 200, await response.text()
                waiting = await full()
                runs = waiting // SWEEP_LIMIT + 1
                cpu, started = cpu_seconds(self.host_pid), time.perf_counter()
                for _ in range(runs):
                    async with session.post(
                        f"{self.host}/admin/functions/{SWEEP}", headers=admin
                    ) as response:
                        assert response.status == 202, await response.text()
                seconds = time.perf_counter() - started
                cpu = cpu_seconds(self.host_pid) - cpu
            left = await full()
        finally:
            await clients.close()
        print(
            f"\noutbox sweep (the clearing the wallet's requests leave to it): {waiting} "
            f"outboxes cleared in {runs} runs (their events sent by this host already), "
            f"{seconds:.2f} s "
            f"({waiting / seconds:.0f}/s), host CPU {1000 * cpu / max(waiting, 1):.2f} ms "
            f"per outbox; {left} left"
        )

    def round_trips(self) -> int:
        return stats(self.cosmos_port, reset=True)["requests"]

    async def cosmos_round_trips(self, times: int = 20) -> None:
        counted: dict[str, list[int]] = {name: [] for name in TARGETS}
        async with aiohttp.ClientSession() as session:
            for i in range(times):
                self.round_trips()
                assert await self.host_create(session, i + 7)
                counted["create"].append(self.round_trips())
                assert await self.host_session(session, 0)
                counted["session"].append(self.round_trips())
                await self.type_cards()
                self.round_trips()
                assert await self.host_validation(session, 0)
                counted["validation"].append(self.round_trips())
                await self.read_tokens()
                self.round_trips()
                assert await self.host_notification(session, 0)
                counted["notification"].append(self.round_trips())
                assert await self.host_list(session, i + 7)
                counted["list"].append(self.round_trips())
                assert await self.host_read(session, len(self.host_wallets) - 1)
                counted["read"].append(self.round_trips())
                assert await self.host_delete(session, 0)
                counted["delete"].append(self.round_trips())
        print(
            "\nCosmos round trips per operation through the dev host (at the emulator, "
            f"median of {times})"
        )
        for name, values in counted.items():
            median = sorted(values)[len(values) // 2]
            print(
                f"  {name:<13} {median}  (target <= {TARGETS[name]}; seen {min(values)}"
                f"-{max(values)})"
            )


async def run(
    platform: Platform, host_url: str, bare_url: str, host_pid: int, bare_pid: int
) -> None:
    bench = Bench(platform, host_url, bare_url, host_pid, bare_pid)
    await bench.throughput()
    for failure, count in sorted(bench.failures.items()):
        print(f"host failures: {count} x {failure}")
    await bench.cosmos_round_trips()
    await bench.sweep()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=("bench", "bare"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "bare":
        asyncio.run(serve_bare(args.port))
        return
    with tempfile.TemporaryDirectory() as state:
        platform = Platform(Path(state), settings(), azurite=False)
        try:
            platform.provision()
            env = {**platform.env, "LOG_LEVEL": "WARNING"}
            host_env = {
                **env,
                **without_event_consumers(),
                f"AzureWebJobs.{SWEEP}.Disabled": "true",
            }  # run by self.sweep
            platform.provision(BARE_DATABASE)
            host = Child(
                "devhost",
                [sys.executable, "-m", "local.devhost", "--app", "function_app", "--port", "0"],
                env=host_env,
            )
            bare = Child(
                "bare",
                [sys.executable, "-m", "bench.wallet", "bare"],
                env={**env, "COSMOS_DATABASE": BARE_DATABASE},
            )
            try:
                asyncio.run(
                    run(
                        platform,
                        f"http://127.0.0.1:{host.port}",
                        f"http://127.0.0.1:{bare.port}",
                        host.proc.pid,
                        bare.proc.pid,
                    )
                )
            finally:
                host.stop()
                bare.stop()
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
