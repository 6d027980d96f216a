"""Benchmark of citizens paying notices through the dev host, beside a baseline doing the same
number of Cosmos operations and the same HTTP round trip to the gateway raw, in the same run.

- A payment is ``POST /api/v1/payments/transactions`` (verify + activate through the node as the
  app's PSP, the transaction created) and ``POST .../auth-requests`` (the confirmation written,
  the card's contract charged at the gateway simulator, the outcome at the node, the receipt
  recorded, the instrument's usage, the transaction closed), by 64 citizens each with a card
  onboarded through the simulator beforehand (untimed), at concurrency 32. The demo EC's station
  is forced into stand-in (the archive answers: no EC simulator in the loop) and the receipts'
  consumer is disabled (it would deliver in the background, competing for CPU).
- Baseline: per payment, as many Cosmos operations as the hosted payment made (counted at the
  emulator, ``GET /_emulator/stats``), half point reads and half upserts of one document, with
  the app's own Cosmos client, in another database; and one signed POST to the gateway
  simulator (a refund of a fresh charge id: the simulator's cost of a charge, without a
  contract), on one keep-alive session.

Run: ``python -m bench.payments [--payments 400] [--rounds 3]``. Prints figures and the ratio;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import ADMIN_KEY, FUNCTION_KEY, Figures, bench_settings, load, start_devhost
from bench.wallet import fiscal_code
from local.cosmos import stats
from local.devclock import DevClock
from local.platform import DEMO_EC, Platform, demo_psp_secret
from local.tokens import issue_token
from shared.auth.signature import HEADER, sign
from shared.platform.clients import Clients
from shared.platform.collector import pace_collector
from shared.platform.config import load_settings

DATABASE = "bench-payments"
RAW_DATABASE = "bench-payments-raw"
STATION = f"{DEMO_EC}_01"
CONCURRENCY = 32
WARMUP = 20
CITIZENS = 64
CARD_METHOD = "3ebea7a1-2e77-4a1b-ac1b-3aca0d67f813"
TRANSACTIONS = "/api/v1/payments/transactions"


def position(n: int) -> dict[str, Any]:
    return {
        "paFiscalCode": DEMO_EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": f"02{n:015d}",
        "amount": 4_200,
        "description": "Mensa scolastica - dicembre",
        "expirationDate": "2030-01-31T23:00:00Z",
    }


class Bench:
    def __init__(self, platform: Platform, host_url: str) -> None:
        self.host = host_url
        self.env = platform.env
        self.port = platform.cosmos.port
        self.psp = platform.env["WALLET_PSP_BASE_URL"]
        self.secret = demo_psp_secret(platform.env)
        self.admin = {"x-functions-key": ADMIN_KEY}
        self.ec = {
            "x-functions-key": FUNCTION_KEY,
            "Ocp-Apim-Subscription-Key": platform.env["DEV_PARTY_KEY_EC"],
        }
        now = DevClock(platform.clock_file).now()
        self.citizens = [fiscal_code(n) for n in range(CITIZENS)]
        self.tokens = {
            cf: issue_token(
                platform.keys.private_pem,
                cf,
                issuer=platform.env["CITIZEN_JWT_ISSUER"],
                audience=platform.env["CITIZEN_JWT_AUDIENCE"],
                now=now,
                ttl_seconds=6 * 3600,
            )
            for cf in self.citizens
        }
        self.cards: dict[str, str] = {}
        self.numbers = iter(range(1, 10**9))
        self.failures: dict[str, int] = {}

    def headers(self, cf: str) -> dict[str, str]:
        return {"x-functions-key": FUNCTION_KEY, "Authorization": f"Bearer {self.tokens[cf]}"}

    async def _json(
        self, session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
    ) -> tuple[int, Any]:
        async with session.request(method, url, **kwargs) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def prepare(self, session: aiohttp.ClientSession, notices: int) -> None:
        """The station in stand-in, the notices published, one card per citizen (untimed)."""
        status, body = await self._json(
            session,
            "POST",
            f"{self.host}/api/ops/parties",
            headers=self.admin,
            json={
                "partyId": STATION,
                "name": "Benchmark station",
                "role": "station",
                "actsFor": {DEMO_EC: []},
                "endpoint": "http://127.0.0.1:9/ec/v1",
            },
        )
        assert status == 200, body
        status, body = await self._json(
            session,
            "PUT",
            f"{self.host}/api/ops/standin/stations/{STATION}/force",
            headers=self.admin,
            json={"mode": "STANDIN", "reason": "benchmark"},
        )
        assert status == 200, body
        slots = asyncio.Semaphore(CONCURRENCY)

        async def publish(n: int) -> None:
            async with slots:
                status, body = await self._json(
                    session,
                    "POST",
                    f"{self.host}/api/aca/v1/paCreatePosition",
                    json=position(n),
                    headers=self.ec,
                )
                assert status == 200, body

        await asyncio.gather(*(publish(n) for n in range(1, notices + 1)))
        await asyncio.gather(*(self.onboard(session, cf) for cf in self.citizens))

    async def onboard(self, session: aiohttp.ClientSession, cf: str) -> None:
        wallets = f"{self.host}/api/v1/wallets"
        status, created = await self._json(
            session,
            "POST",
            wallets,
            headers=self.headers(cf),
            json={"paymentMethodId": CARD_METHOD, "applications": ["PAGOPA"]},
        )
        assert status == 201, created
        wallet_id = created["walletId"]
        status, opened = await self._json(
            session, "POST", f"{wallets}/{wallet_id}/sessions", headers=self.headers(cf), json={}
        )
        assert status == 200, opened
        gateway_session = opened["sessionData"]["redirectUrl"].rsplit("/", 1)[-1]
        card = {"pan": "4242424242424242", "expiryMonth": 12, "expiryYear": 2099}
        status, typed = await self._json(
            session, "POST", f"{self.psp}/test/sessions/{gateway_session}/card", json=card
        )
        assert status == 200, typed
        status, asked = await self._json(
            session,
            "POST",
            f"{wallets}/{wallet_id}/sessions/{opened['orderId']}/validations",
            headers=self.headers(cf),
        )
        assert status == 200, asked
        status, done = await self._json(
            session,
            "POST",
            f"{self.psp}/test/sessions/{gateway_session}/3ds",
            json={"threeDsCode": "123456"},
        )
        assert status == 200, done
        assert done["walletAnswer"]["status"] == "VALIDATED", done
        self.cards[cf] = wallet_id

    def _failed(self, what: str) -> bool:
        self.failures[what] = self.failures.get(what, 0) + 1
        return False

    async def pay(self, session: aiohttp.ClientSession, i: int) -> bool:
        cf = self.citizens[i % CITIZENS]
        number = "3" + position(next(self.numbers))["iuv"]
        status, created = await self._json(
            session,
            "POST",
            self.host + TRANSACTIONS,
            headers=self.headers(cf),
            json={"noticeCode": number, "ecFiscalCode": DEMO_EC},
        )
        if status != 201:
            return self._failed(f"create {status} {(created or {}).get('detail')}")
        status, paid = await self._json(
            session,
            "POST",
            f"{self.host}{TRANSACTIONS}/{created['transactionId']}/auth-requests",
            headers=self.headers(cf),
            json={"walletId": self.cards[cf], "idempotencyKey": f"k{i}"},
        )
        if status != 200 or paid["status"] != "NOTIFIED_OK":
            return self._failed(f"confirm {status} {(paid or {}).get('status')}")
        return True

    async def raw(self, payments: int, trips: float) -> Figures:
        """The baseline: per payment, ``trips`` Cosmos operations and one signed POST to the
        gateway simulator, 32 at a time."""
        clients = Clients(load_settings({**self.env, "COSMOS_DATABASE": RAW_DATABASE}))
        container = clients.container(clients.settings.payments_container)
        reads = max(1, round(trips / 2))
        writes = max(1, round(trips) - reads)
        connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=CONCURRENCY)
        latencies: list[float] = []
        try:
            async with aiohttp.ClientSession(connector=connector) as http:

                async def payment(i: int) -> None:
                    key = uuid.uuid4().hex
                    document = {"id": key, "pk": key, "n": 0}
                    for n in range(writes):
                        document["n"] = n
                        await container.upsert_item(document)
                    for _ in range(reads):
                        await container.read_item(key, partition_key=key)
                    body = b"{}"
                    headers = {
                        HEADER: sign(self.secret, body, int(time.time())),
                        "Content-Type": "application/json",
                    }
                    async with http.post(
                        f"{self.psp}/charges/raw-{key}/refund", data=body, headers=headers
                    ) as answer:
                        await answer.read()

                for i in range(WARMUP):  # as the hosted side's: connections and caches
                    await payment(i)
                todo = iter(range(payments))

                async def worker() -> None:
                    for i in todo:
                        started = time.perf_counter()
                        await payment(i)
                        latencies.append(time.perf_counter() - started)

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
                seconds = time.perf_counter() - started
        finally:
            await clients.close()
        latencies.sort()
        return Figures(
            f"raw: {reads}+{writes} Cosmos, 1 HTTP",
            payments,
            seconds,
            statistics.median(latencies) * 1000,
            latencies[int(len(latencies) * 0.99) - 1] * 1000,
            0,
        )

    async def run(self, payments: int, rounds: int) -> None:
        warmup = WARMUP
        async with aiohttp.ClientSession() as session:
            await self.prepare(session, (payments + warmup) * rounds + 10)
        results: list[tuple[Figures, float, Figures]] = []
        for _ in range(rounds):
            stats(self.port, reset=True)
            hosted = await load(
                "payment: dev host",
                self.pay,
                total=payments,
                concurrency=CONCURRENCY,
                warmup=warmup,
            )
            trips = stats(self.port, reset=True)["requests"] / (payments + warmup)
            results.append((hosted, trips, await self.raw(payments, trips)))
        print(
            f"\ncitizens' payments (create + confirm, stand-in) at concurrency {CONCURRENCY}, "
            f"{payments} per round; the machine is shared and busy: figures are indicative"
        )
        for hosted, trips, raw in results:
            print(hosted.line().replace("req/s", "payments/s"))
            print(raw.line().replace("req/s", "payments/s"))
            print(
                f"{'':<28} ratio host/raw {hosted.rps / raw.rps:.2f} (target >= 0.6); "
                f"Cosmos round trips per payment through the host: {trips:.1f}"
            )
        hosted_rate = statistics.mean(h.rps for h, _, _ in results)
        raw_rate = statistics.mean(r.rps for _, _, r in results)
        print(
            f"mean of {len(results)} rounds: host {hosted_rate:.1f} payments/s, raw "
            f"{raw_rate:.1f} payments/s, ratio {hosted_rate / raw_rate:.2f} (target >= 0.6)"
        )
        if self.failures:
            print(f"failures: {self.failures}")


def main() -> None:
    pace_collector()  # the raw side runs here: the worker's collector setting, as in the host
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        platform = Platform(
            Path(state),
            bench_settings(
                DATABASE,
                **{
                    "AzureWebJobs.standin_receipts.Disabled": "true",
                    # the archive's event consumers: in Azure on instances of their own; here
                    # they would work in the measured host's process and load the emulator
                    # during the baseline's run (the stand-in bench found both)
                    **{
                        f"AzureWebJobs.{name}.Disabled": "true"
                        for name in (
                            "journal_notice_events",
                            "payments_notices_index",
                            "backoffice_positions_index",
                        )
                    },
                },
            ),
            azurite=False,
        )
        try:
            platform.provision()
            platform.provision(RAW_DATABASE)
            host = start_devhost(platform)
            try:
                asyncio.run(
                    Bench(platform, f"http://127.0.0.1:{host.port}").run(args.payments, args.rounds)
                )
            finally:
                host.stop()
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
