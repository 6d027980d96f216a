"""Benchmark of the notice archive through the dev host, beside raw SDK upserts of the same
documents to the same Cosmos emulator at the same concurrency, in the same run (with the app's
own Cosmos client from ``shared.platform.clients``, so both sides have the same SDK settings).

- Single writes: ``POST /api/aca/v1/paCreatePosition`` (new positions) at concurrency 32,
  beside ``upsert_item`` of the documents the host stored, 32 at a time.
- Bulk: one upload of 20,000 positions (NDJSON) until its report says COMPLETED, beside
  ``upsert_item`` of the documents it stored at the host's own concurrency (host.json's
  ``maxConcurrentCalls`` chunks at once x ``NOTICES_BULK_CONCURRENCY`` writes per chunk).
- Cosmos round trips per position, counted at the emulator (``GET /_emulator/stats``).

Run: ``python -m bench.notices [--positions 20000] [--singles 2000]``. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from azure.cosmos.aio import ContainerProxy

from bench.common import (
    FUNCTION_KEY,
    Figures,
    bench_settings,
    load,
    start_devhost,
    upsert_all,
)
from local.cosmos import stats
from local.platform import DEMO_EC, Platform
from local.process import ROOT
from shared.platform.clients import Clients
from shared.platform.collector import pace_collector
from shared.platform.config import load_settings

DATABASE = "bench-notices"
RAW_DATABASE = "bench-notices-raw"
CREATE = "/api/aca/v1/paCreatePosition"
BULK = "/api/aca/v1/positions/bulk"
SINGLE_CONCURRENCY = 32


def position(n: int) -> dict[str, Any]:
    return {
        "paFiscalCode": DEMO_EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": f"01{n:015d}",
        "amount": 12_050,
        "description": "TARI 2026 - rata unica",
        "expirationDate": "2030-01-31T23:00:00Z",
    }


def host_concurrency(env: dict[str, str]) -> int:
    host_json = json.loads((ROOT / "host.json").read_text())
    calls = int(host_json["extensions"]["serviceBus"].get("maxConcurrentCalls", 16))
    return calls * int(env["NOTICES_BULK_CONCURRENCY"])


class Bench:
    def __init__(self, platform: Platform, host_url: str) -> None:
        self.host = host_url
        self.port = platform.cosmos.port
        self.env = platform.env
        self.headers = {
            "x-functions-key": FUNCTION_KEY,
            "Content-Type": "application/json",
            "Ocp-Apim-Subscription-Key": platform.env["DEV_PARTY_KEY_EC"],
        }
        self.singles = itertools.count(10_000_000)  # a new position each, warm-up included
        self.bulks = itertools.count(20_000_000, 1_000_000)

    def round_trips(self) -> int:
        return stats(self.port, reset=True)["requests"]

    async def documents(
        self, container: ContainerProxy, first: int, last: int
    ) -> list[dict[str, Any]]:
        """What the host stored for positions first..last-1 (without system properties)."""
        found = []
        async for item in container.query_items("SELECT * FROM c"):
            n = int(item["iuv"][2:])
            if first <= n < last:
                found.append({k: v for k, v in item.items() if not k.startswith("_")})
        return found

    async def single(self, session: aiohttp.ClientSession, i: int) -> bool:
        async with session.post(
            self.host + CREATE, json=position(next(self.singles)), headers=self.headers
        ) as response:
            await response.read()
            return response.status == 200

    async def bulk(self, first: int, positions: int) -> tuple[float, int, int]:
        """Seconds from upload to COMPLETED, Cosmos round trips (polls excluded), polls."""
        upload = "\n".join(json.dumps(position(first + i)) for i in range(positions)).encode()
        polls = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            self.round_trips()
            started = time.perf_counter()
            async with session.post(
                self.host + BULK, data=upload, headers=self.headers
            ) as response:
                accepted = await response.json()
                assert response.status == 202, accepted
            while True:
                await asyncio.sleep(0.25)
                polls += 1
                async with session.get(
                    self.host + accepted["report"], headers=self.headers
                ) as response:
                    report = await response.json()
                if report["status"] == "COMPLETED":
                    break
            seconds = time.perf_counter() - started
            trips = self.round_trips() - 2 * polls  # each report: a point read and a query
        assert report["written"] == positions, report
        return seconds, trips, polls

    async def run(self, positions: int, singles: int, rounds: int) -> None:
        # The app's own client (platform.clients), so the baseline has the host's SDK settings.
        clients = Clients(load_settings({**self.env, "COSMOS_DATABASE": RAW_DATABASE}))
        try:
            client = clients.cosmos()
            hosted = client.get_database_client(DATABASE).get_container_client(
                clients.settings.notices_container
            )
            raw = clients.container(clients.settings.notices_container)

            # single writes
            self.round_trips()
            host_single = await load(
                "single write: dev host", self.single, total=singles, concurrency=SINGLE_CONCURRENCY
            )
            single_trips = self.round_trips() / (singles + 100)  # with the warm-up writes
            documents = await self.documents(hosted, 10_000_000, next(self.singles))
            seconds = await upsert_all(raw, documents, SINGLE_CONCURRENCY)
            raw_single = Figures("single write: raw upserts", len(documents), seconds, 0, 0, 0)

            # bulk: host then raw, ``rounds`` times (alternating, so a noisy moment hits both)
            concurrency = host_concurrency(self.env)
            runs: list[tuple[float, int, int, float, int]] = []
            for _ in range(rounds):
                first = next(self.bulks)
                bulk_seconds, bulk_trips, polls = await self.bulk(first, positions)
                documents = await self.documents(hosted, first, first + positions)
                self.round_trips()
                raw_seconds = await upsert_all(raw, documents, concurrency)
                runs.append((bulk_seconds, bulk_trips, polls, raw_seconds, self.round_trips()))
        finally:
            await clients.close()

        print(f"\nsingle writes (new positions) at concurrency {SINGLE_CONCURRENCY}")
        print(host_single.line())
        print(f"{raw_single.name:<28} {raw_single.rps:8.0f} req/s")
        print(
            f"{'':<28} ratio host/raw {host_single.rps / raw_single.rps:.2f}  "
            f"(Cosmos round trips per write: {single_trips:.2f})"
        )
        print(
            f"\nbulk of {positions} positions, {rounds} rounds (upload to COMPLETED, the "
            "report polled every 0.25 s)"
        )
        for bulk_seconds, bulk_trips, polls, raw_seconds, raw_trips in runs:
            bulk_rate, raw_rate = positions / bulk_seconds, positions / raw_seconds
            print(
                f"{'bulk: dev host':<28} {bulk_rate:8.0f} positions/s  ({bulk_seconds:.1f} s; "
                f"Cosmos round trips per position {bulk_trips / positions:.3f}, "
                f"{polls} polls excluded)"
            )
            print(
                f"{'bulk: raw upserts':<28} {raw_rate:8.0f} positions/s  ({raw_seconds:.1f} s, "
                f"concurrency {concurrency}; round trips per position "
                f"{raw_trips / positions:.3f})"
            )
        host_total = sum(run[0] for run in runs)
        raw_total = sum(run[3] for run in runs)
        print(f"{'':<28} ratio host/raw {raw_total / host_total:.2f}  (target >= 0.7)")
        print(
            "The host also authenticates, stores the upload in Blob storage, fans it out "
            "through Service Bus, validates\nand authorizes every line, keeps its history "
            "and records each chunk's result; raw upserts only write."
        )


def main() -> None:
    pace_collector()  # the raw side runs here: the worker's collector setting, as in the host
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=20_000)
    parser.add_argument("--singles", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for this run, e.g. NOTICES_BULK_CONCURRENCY=8",
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    with tempfile.TemporaryDirectory() as state:
        platform = Platform(Path(state), bench_settings(DATABASE, **overrides), azurite=True)
        try:
            platform.provision()
            platform.provision(RAW_DATABASE)
            host = start_devhost(platform)
            try:
                asyncio.run(
                    Bench(platform, f"http://127.0.0.1:{host.port}").run(
                        args.positions, args.singles, args.rounds
                    )
                )
            finally:
                host.stop()
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
