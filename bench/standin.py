"""Benchmark of stand-in payments through the node's SOAP endpoint on the dev host, beside a
bare SOAP server making the same Cosmos operations and writing the same XML with lxml, driven by
the same load generator in the same run (decision 0270).

- A payment is verifyPaymentNotice + activatePaymentNoticeV2 + sendPaymentOutcomeV2 (OK) of one
  notice, in SOAP 1.1 with the demo PSP's channel credentials, at concurrency 32, the answers
  checked the same way on both sides (OK, ``standin`` true, a token).
- Host: the station forced into stand-in. The receipts' consumer and the archive's event
  consumers (journal, positions index, citizens' index) are disabled during the run (they would
  work in the background of the same process, competing for CPU and the emulator); their
  messages still go to Service Bus.
- Baseline (the target's): ``bench.standin_bare``, its own process, in another database. For
  each message it reads the envelope with the app's lxml reader, makes the point reads and
  ETag-conditioned writes the gateway makes (verify: read the notice; activate: read the
  notice, create the payment; outcome: read the payment, replace it, read the notice, replace
  it), on the host's own documents (a published notice, a paid notice with the archive's
  events in its outbox, a paid payment with its receipt's event: read from the host's database
  after one payment), and answers with the host's answer to the same message, written again
  with lxml.
- Reference (not the target's): the same operations in this process on small documents, the
  three envelopes parsed and written with lxml, no HTTP (the baseline until session 12).
- The outbox sweep's timer is disabled during the rounds and run once after them, timed alone
  (as in ``bench/wallet.py``): its 30-s timer fell into whichever round it happened to, clearing
  up to 500 outboxes there (7.02-7.14 round trips per payment instead of 7.00). In Azure the
  receipt's delivery clears the payment's outbox; here (delivery disabled) the sweep does.
- Cosmos round trips per payment, counted at the emulator (``GET /_emulator/stats``).
- CPU per payment: the serving process's (host, bare server; this process's for the
  reference), and the Cosmos emulator's and Service Bus broker's during each, never the load
  generator's; and their ratio (what the rates' ratio tends to when CPU is the bottleneck).
  Other work on the machine moves these less than the rates, but still moves them.

Run: ``python -m bench.standin [--payments 1000] [--rounds 5]``. Prints each round and the
median ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from lxml import etree

from bench.common import (
    ADMIN_KEY,
    FUNCTION_KEY,
    Figures,
    bench_settings,
    load,
    start_devhost,
    upsert_all,
)
from bench.standin_bare import bare_notice
from bench.wallet import cpu_seconds
from local.cosmos import kinds, stats
from local.platform import DEMO_EC, Platform, demo_channel
from local.process import Child
from shared.notices.identity import position_id
from shared.pagopa import psp, soap
from shared.pagopa.common import QrCode
from shared.pagopa.xml import XmlModel, euros_to_cents
from shared.platform.clients import Clients
from shared.platform.collector import pace_collector
from shared.platform.config import load_settings
from shared.platform.cosmos import body
from shared.standin.store import payment_key

DATABASE = "bench-standin"
ARCHIVE_EVENT_CONSUMERS = (
    "journal_notice_events",
    "payments_notices_index",
    "backoffice_positions_index",
)
"""The queue functions of the archive's events (functions/root.py ``notice_events``)."""
SWEEP = "sweep_outboxes"  # the outbox sweep's timer function (disabled during the rounds)
RAW_DATABASE = "bench-standin-raw"
BARE_DATABASE = "bench-standin-bare"
STATION = f"{DEMO_EC}_01"
WARMUP = 50  # payments of each side's round before the timed ones
SAMPLE = 1
"""The notice the host pays first, for the samples of its messages and documents; the rounds pay
the notices after it, on both sides (the bare server's database holds the same numbers)."""
CONCURRENCY = 32
READS_PER_PAYMENT = 4
EVENT_DESTINATIONS = 3
"""The archive's event destinations (functions/root.py ``notice_events``): the citizens' index,
the journal, the back office's positions index."""
WRITES_PER_PAYMENT = 3
NODE = "/api/node/v1/nodeForPsp"
Who = dict[str, str]
"""The PSP's credentials, as the request models name them."""
PAID_ON = date(2026, 11, 22)


def envelope(message: XmlModel, name: str) -> bytes:
    return soap.serialise(message.to_element(etree.QName(psp.NAMESPACE, name)))


def verify_request(who: Who, number: str) -> bytes:
    qr = QrCode(fiscal_code=DEMO_EC, notice_number=number)
    return envelope(psp.VerifyPaymentNoticeReq(**who, qr_code=qr), "verifyPaymentNoticeReq")


def activate_request(who: Who, number: str, amount: int, n: int) -> bytes:
    qr = QrCode(fiscal_code=DEMO_EC, notice_number=number)
    request = psp.ActivatePaymentNoticeV2Request(
        **who, idempotency_key=f"DEMOPSP_{n:010d}", qr_code=qr, amount=amount
    )
    return envelope(request, "activatePaymentNoticeV2Request")


def outcome_request(who: Who, token: str) -> bytes:
    request = psp.SendPaymentOutcomeV2Request(
        **who,
        payment_tokens=psp.PaymentTokens(payment_token=[token]),
        outcome="OK",
        details=psp.OutcomeDetailsV2(
            payment_method="creditCard", fee=100, application_date=PAID_ON, transfer_date=PAID_ON
        ),
    )
    return envelope(request, "sendPaymentOutcomeV2Request")


def iuv(n: int) -> str:
    return f"01{n:015d}"


def position(n: int) -> dict[str, Any]:
    return {
        "paFiscalCode": DEMO_EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv(n),
        "amount": 4_200,
        "description": "Mensa scolastica - novembre",
        "expirationDate": "2030-01-31T23:00:00Z",
    }


@dataclass(frozen=True)
class Side:
    """One side's round: its load figures, and per payment its Cosmos round trips (counted at
    the emulator) and the CPU of its process and of the emulators (ms)."""

    figures: Figures
    trips: float
    cpu_ms: float
    emulators_ms: float
    by_kind: dict[str, float]
    """Round trips per payment by operation and container (the emulator's counts)."""


def cpu_ratio(baseline: Side, measured: Side) -> float:
    """The baseline's CPU per payment over the measured side's, both with the emulators': what
    the throughput ratio tends to when CPU is the bottleneck and nothing else runs."""
    cost = measured.cpu_ms + measured.emulators_ms
    return (baseline.cpu_ms + baseline.emulators_ms) / cost if cost else 0.0


@dataclass(frozen=True)
class Round:
    hosted: Side
    bare: Side
    raw_rate: float
    raw_cpu_ms: float
    raw_emulators_ms: float

    @property
    def ratio(self) -> float:
        """The target's ratio: payments/s through the host over the bare server's."""
        return self.hosted.figures.rps / self.bare.figures.rps


class Bench:
    def __init__(self, platform: Platform, host_url: str, host_pid: int) -> None:
        self.host = host_url
        self.host_pid = host_pid
        self.emulator_pids = (platform.cosmos.proc.pid, platform.broker.proc.pid)
        self.port = platform.cosmos.port
        self.env = platform.env
        self.ec = {
            "x-functions-key": FUNCTION_KEY,
            "Ocp-Apim-Subscription-Key": platform.env["DEV_PARTY_KEY_EC"],
        }
        self.psp = {
            "x-functions-key": FUNCTION_KEY,
            "Ocp-Apim-Subscription-Key": platform.env["DEV_PARTY_KEY_PSP"],
        }
        self.admin = {"x-functions-key": ADMIN_KEY}
        channel = demo_channel(platform.env)
        self.who: Who = {
            "id_psp": channel.id_psp,
            "id_broker_psp": channel.id_broker_psp,
            "id_channel": channel.id_channel,
            "password": channel.password,
        }
        self.bare_env = {**platform.env, "COSMOS_DATABASE": BARE_DATABASE, "LOG_LEVEL": "WARNING"}

    def round_trips(self) -> int:
        return stats(self.port, reset=True)["requests"]

    async def prepare(self, session: aiohttp.ClientSession, count: int) -> None:
        """The station forced into stand-in, and ``count`` (+ warm-up) notices published."""
        # The station's endpoint is never called in stand-in; it only has to be registered.
        async with session.post(
            f"{self.host}/api/ops/parties",
            headers=self.admin,
            json={
                "partyId": STATION,
                "name": "Benchmark station",
                "role": "station",
                "actsFor": {DEMO_EC: []},
                "endpoint": "http://127.0.0.1:9/ec/v1",
            },
        ) as response:
            assert response.status == 200, await response.text()
        async with session.put(
            f"{self.host}/api/ops/standin/stations/{STATION}/force",
            json={"mode": "STANDIN", "reason": "benchmark"},
            headers=self.admin,
        ) as response:
            assert response.status == 200, await response.text()
        slots = asyncio.Semaphore(CONCURRENCY)

        async def publish(n: int) -> None:
            async with (
                slots,
                session.post(
                    f"{self.host}/api/aca/v1/paCreatePosition", json=position(n), headers=self.ec
                ) as response,
            ):
                assert response.status == 200, await response.text()

        await asyncio.gather(*(publish(n) for n in range(1, count + 1)))

    async def _call(
        self, session: aiohttp.ClientSession, url: str, action: str, body: bytes
    ) -> etree._Element | None:
        headers = {"Content-Type": soap.CONTENT_TYPE, "SOAPAction": f'"{action}"'}
        async with session.post(url, data=body, headers=headers) as response:
            raw = await response.read()
            if response.status != 200:
                return None
        answer = soap.parse(raw).element
        return answer if answer.findtext("outcome") == "OK" else None

    def payer(
        self, url: str, numbers: Iterator[int]
    ) -> Callable[[aiohttp.ClientSession, int], Awaitable[bool]]:
        """One payment of the next of ``numbers`` through the SOAP endpoint ``url`` (the host's
        or the bare server's: the same requests, the same checks of the answers)."""

        async def pay(session: aiohttp.ClientSession, _: int) -> bool:
            return await self._pay(session, url, next(numbers))

        return pay

    async def _pay(self, session: aiohttp.ClientSession, url: str, n: int) -> bool:
        number = "3" + iuv(n)
        verified = await self._call(
            session, url, "verifyPaymentNotice", verify_request(self.who, number)
        )
        if verified is None or verified.findtext("standin") != "true":
            return False
        amount = euros_to_cents(
            verified.findtext("paymentList/paymentOptionDescription/amount") or ""
        )
        assert isinstance(amount, int)
        activated = await self._call(
            session, url, "activatePaymentNoticeV2", activate_request(self.who, number, amount, n)
        )
        token = activated.findtext("paymentToken") if activated is not None else None
        if not token:
            return False
        paid = await self._call(
            session, url, "sendPaymentOutcomeV2", outcome_request(self.who, token)
        )
        return paid is not None

    async def xml_samples(
        self, session: aiohttp.ClientSession
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The three messages of one payment as the host reads and writes them (request, answer),
        for the baselines' lxml work, and the number of the notice it paid."""
        n = SAMPLE
        number = "3" + iuv(n)
        samples: list[tuple[bytes, bytes]] = []
        verify = verify_request(self.who, number)
        async with session.post(f"{self.host}{NODE}", data=verify) as response:
            samples.append((verify, await response.read()))
        activate = activate_request(self.who, number, position(n)["amount"], n)
        async with session.post(f"{self.host}{NODE}", data=activate) as response:
            answer = await response.read()
        samples.append((activate, answer))
        token = soap.parse(answer).element.findtext("paymentToken") or ""
        outcome = outcome_request(self.who, token)
        async with session.post(f"{self.host}{NODE}", data=outcome) as response:
            samples.append((outcome, await response.read()))
        return n, samples

    async def templates(self, n: int, samples: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        """What the bare server writes and answers, taken from the host in this run: notice
        ``n + 1`` as published, notice ``n`` and its payment once paid (their outboxes as the
        host left them: the archive's events, the receipt's), and the host's three answers."""
        clients = Clients(load_settings(self.env))
        try:
            notices = clients.container(clients.settings.notices_container)
            payments = clients.container(clients.settings.standin_container)
            paid_id, fresh_id = position_id(DEMO_EC, iuv(n)), position_id(DEMO_EC, iuv(n + 1))
            key = payment_key(DEMO_EC, "3" + iuv(n))
            paid = body(await notices.read_item(paid_id, partition_key=paid_id))
            fresh = body(await notices.read_item(fresh_id, partition_key=fresh_id))
            payment = body(await payments.read_item(key[0], partition_key=key[1]))
        finally:
            await clients.close()
        names = [soap.parse(request).name for request, _ in samples]
        return {
            "ec": DEMO_EC,
            "iuv": iuv(n),
            "notice": json.loads(json.dumps(fresh).replace(iuv(n + 1), iuv(n))),
            "paidNotice": paid,
            "payment": payment,
            "answers": {
                name: answer.decode() for name, (_, answer) in zip(names, samples, strict=True)
            },
        }

    async def seed_bare(self, templates: dict[str, Any], numbers: range) -> None:
        """The notices ``numbers`` published in the bare server's database, as the host stores
        them (not timed)."""
        clients = Clients(load_settings({**self.env, "COSMOS_DATABASE": BARE_DATABASE}))
        try:
            container = clients.container(clients.settings.notices_container)
            documents = [bare_notice(templates, iuv(n)) for n in numbers]
            await upsert_all(container, documents, CONCURRENCY)
        finally:
            await clients.close()

    async def side(self, name: str, url: str, numbers: range, pid: int) -> Side:
        """One side's round: ``numbers`` paid through ``url``, the first :data:`WARMUP` as
        warm-up."""
        self.round_trips()
        cpu, emulators = cpu_seconds(pid), self.emulators_cpu()
        figures = await load(
            name,
            self.payer(url, iter(numbers)),
            total=len(numbers) - WARMUP,
            concurrency=CONCURRENCY,
            warmup=WARMUP,
        )
        done = len(numbers)
        by_kind = {k: n / done for k, n in sorted(kinds(self.port).items())}
        return Side(
            figures,
            self.round_trips() / done,
            (cpu_seconds(pid) - cpu) / done * 1000,
            (self.emulators_cpu() - emulators) / done * 1000,
            by_kind,
        )

    async def raw_payments(
        self,
        container: ContainerProxy,
        payments: int,
        *,
        prefix: str,
        samples: list[tuple[bytes, bytes]],
    ) -> tuple[float, float]:
        """Seconds, and this process's CPU seconds, for the baseline's operations of
        ``payments`` payments, 32 at a time."""
        notices = [
            {"id": f"notice:{i}", "pk": f"{prefix}:{i}", "amount": 4_200, "status": "VALID"}
            for i in range(payments)
        ]
        for notice in notices:
            await container.upsert_item(notice)
        todo = iter(range(payments))

        async def conditional(document: dict[str, Any]) -> dict[str, Any]:
            written: dict[str, Any] = await container.replace_item(
                document["id"],
                {k: v for k, v in document.items() if not k.startswith("_")},
                etag=document["_etag"],
                match_condition=MatchConditions.IfNotModified,
            )
            return written

        def xml(step: int) -> None:
            request, answer = samples[step]
            soap.parse(request)
            etree.tostring(etree.fromstring(answer), xml_declaration=True, encoding="UTF-8")

        async def payment(i: int) -> None:
            pk = f"{prefix}:{i}"
            await container.read_item(f"notice:{i}", partition_key=pk)  # verify
            xml(0)
            await container.read_item(f"notice:{i}", partition_key=pk)  # activate
            xml(1)
            await container.create_item(
                {"id": f"payment:{i}", "pk": pk, "token": uuid.uuid4().hex, "outbox": []}
            )
            paying: dict[str, Any] = dict(
                await container.read_item(
                    f"payment:{i}",  # outcome
                    partition_key=pk,
                )
            )
            paying["outbox"] = [{"id": uuid.uuid4().hex}]
            paying = await conditional(paying)
            notice = dict(await container.read_item(f"notice:{i}", partition_key=pk))
            notice["status"] = "PAID"
            # the archive's events of the payment (one per destination) ride in the notice's
            # outbox; the host sends them after answering and leaves the clearing to the next
            # write or the sweep (Outbox.publish_soon), so no write of its own here
            notice["outbox"] = [
                {"id": uuid.uuid4().hex, "seq": 2} for _ in range(EVENT_DESTINATIONS)
            ]
            await conditional(notice)
            xml(2)

        async def worker() -> None:
            for i in todo:
                await payment(i)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started, time.process_time() - cpu

    async def sweep(self) -> None:
        """The outboxes the payments left (their receipts' delivery is disabled): the sweep
        clears them, timed alone, with the host's clock 31 s later."""
        clients = Clients(load_settings(self.env))
        container = clients.container(clients.settings.standin_container)
        query = "SELECT c.id FROM c WHERE IS_DEFINED(c.outbox) AND ARRAY_LENGTH(c.outbox) > 0"

        async def full() -> int:
            return len([d async for d in container.query_items(query)])

        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"{self.host}/admin/devclock", headers=self.admin, json={"advanceSeconds": 31}
                ) as response:
                    assert response.status == 200, await response.text()
                waiting = await full()
                cpu, started = cpu_seconds(self.host_pid), time.perf_counter()
                async with session.post(
                    f"{self.host}/admin/functions/{SWEEP}", headers=self.admin
                ) as response:
                    assert response.status == 202, await response.text()
                seconds = time.perf_counter() - started
                cpu = cpu_seconds(self.host_pid) - cpu
            cleared = waiting - await full()
        finally:
            await clients.close()
        print(
            f"\noutbox sweep (one run, after the rounds): {cleared} of {waiting} payments' "
            f"outboxes cleared in {seconds:.2f} s, host CPU {1000 * cpu / max(cleared, 1):.2f} "
            "ms per outbox (in Azure the receipt's delivery clears it; delivery is disabled here)"
        )

    def emulators_cpu(self) -> float:
        """CPU seconds the Cosmos emulator and the Service Bus broker have used so far."""
        return sum(cpu_seconds(pid) for pid in self.emulator_pids)

    async def run(self, payments: int, rounds: int, bare_argv: list[str]) -> None:
        each = payments + WARMUP
        async with aiohttp.ClientSession() as session:
            await self.prepare(session, each * rounds + 1)
            paid, samples = await self.xml_samples(session)
        templates = await self.templates(paid, samples)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
            json.dump(templates, file)
            file.flush()
            bare = Child("bare", [*bare_argv, "--templates", file.name], env=self.bare_env)
        clients = Clients(load_settings({**self.env, "COSMOS_DATABASE": RAW_DATABASE}))
        results: list[Round] = []
        try:
            await self.seed_bare(templates, range(SAMPLE + 1, SAMPLE + 1 + each * rounds))
            raw = clients.container(clients.settings.standin_container)
            for k in range(rounds):
                numbers = range(SAMPLE + 1 + k * each, SAMPLE + 1 + (k + 1) * each)
                hosted = await self.side(
                    "payment: dev host", f"{self.host}{NODE}", numbers, self.host_pid
                )
                bare_url = f"http://127.0.0.1:{bare.port}/node"
                bared = await self.side("payment: bare server", bare_url, numbers, bare.proc.pid)
                emulators = self.emulators_cpu()
                seconds, raw_cpu = await self.raw_payments(
                    raw, payments, prefix=uuid.uuid4().hex[:8], samples=samples
                )
                raw_emulators = (self.emulators_cpu() - emulators) / payments
                results.append(
                    Round(
                        hosted,
                        bared,
                        payments / seconds,
                        raw_cpu / payments * 1000,
                        raw_emulators * 1000,
                    )
                )
        finally:
            bare.stop()
            await clients.close()
        report(results, payments)


def report(results: list[Round], payments: int) -> None:
    print(
        f"\nstand-in payments in SOAP (verifyPaymentNotice + activatePaymentNoticeV2 + "
        f"sendPaymentOutcomeV2 OK) at concurrency {CONCURRENCY}, {payments} per round"
    )
    for r in results:
        host, bare = r.hosted, r.bare
        print(host.figures.line().replace("req/s", "payments/s"))
        print(bare.figures.line().replace("req/s", "payments/s"))
        print(
            f"{'':<28} ratio host/bare {r.ratio:.2f} (target >= 0.6)  Cosmos round trips per "
            f"payment: host {host.trips:.2f}, bare {bare.trips:.2f}"
        )
        print(
            f"{'':<28} CPU ms per payment: host {host.cpu_ms:.2f} + emulators "
            f"{host.emulators_ms:.2f}; bare {bare.cpu_ms:.2f} + emulators "
            f"{bare.emulators_ms:.2f}; ratio bare/host {cpu_ratio(bare, host):.2f}"
        )
        print(
            f"{'':<28} the host's round trips per payment: "
            + ", ".join(f"{kind} {n:.2f}" for kind, n in host.by_kind.items() if n >= 0.005)
        )
        print(
            f"{'reference: raw, no HTTP':<28} {r.raw_rate:8.0f} payments/s  "
            f"({READS_PER_PAYMENT} point reads + {WRITES_PER_PAYMENT} conditional writes of "
            "small documents in this process, 3 envelopes parsed and 3 written each); "
            f"host/raw {host.figures.rps / r.raw_rate:.2f}, CPU ms per payment "
            f"{r.raw_cpu_ms:.2f} + emulators {r.raw_emulators_ms:.2f}"
        )
    ratios = sorted(r.ratio for r in results)
    print(
        f"median ratio host/bare over {len(ratios)} rounds: {ratios[len(ratios) // 2]:.2f} "
        "(target >= 0.6)"
    )
    print(
        "The host also authenticates the PSP's channel, validates each message against the "
        "models,\nchecks the notice is payable, keeps its clock, retries and guards, and sends "
        "the archive's events and the receipt to Service Bus;\nthe bare server serves the same "
        "SOAP over HTTP with the same Cosmos operations on the host's documents, nothing else.\n"
        "CPU per payment counts the emulator and broker processes and the serving process, never "
        "the load generator's."
    )


def main() -> None:
    pace_collector()  # the raw side runs here: the worker's collector setting, as in the host
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        platform = Platform(
            Path(state),
            bench_settings(
                DATABASE,
                **{
                    "AzureWebJobs.standin_receipts.Disabled": "true",
                    # the archive's event consumers too: in Azure they run on instances of
                    # their own; here they shared the host's process and the emulator with the
                    # measured payments (0.5-0.6 round trips each of journal, index and
                    # citizens' index work a payment). The events are still sent.
                    **{f"AzureWebJobs.{name}.Disabled": "true" for name in ARCHIVE_EVENT_CONSUMERS},
                    f"AzureWebJobs.{SWEEP}.Disabled": "true",  # run by Bench.sweep
                },
            ),
            azurite=False,
        )
        try:
            platform.provision()
            platform.provision(RAW_DATABASE)
            platform.provision(BARE_DATABASE)
            host = start_devhost(platform)
            try:
                bench = Bench(platform, f"http://127.0.0.1:{host.port}", host.proc.pid)

                async def everything() -> None:
                    await bench.run(
                        args.payments, args.rounds, [sys.executable, "-m", "bench.standin_bare"]
                    )
                    await bench.sweep()

                asyncio.run(everything())
            finally:
                host.stop()
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
