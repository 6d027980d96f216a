"""Benchmark of the notice archive through the dev host, beside raw SDK upserts of the same
documents to the same Cosmos emulator at the same concurrency, in the same run (with the app's
own Cosmos client from ``shared.platform.clients``, so both sides have the same SDK settings).

- Single writes: ``POST /api/aca/v1/paCreatePosition`` (new positions) at concurrency 32,
  beside ``upsert_item`` of the documents the host stored, 32 at a time.
- Bulk, in both upload formats: one upload of 20,000 positions (NDJSON, and pagoPA's multipart
  upload file: a ZIP of one JSON file of GPD payment positions) until its report says
  COMPLETED, beside ``upsert_item`` of the documents it stored at the host's own concurrency
  (host.json's ``maxConcurrentCalls`` chunks at once x ``NOTICES_BULK_CONCURRENCY`` writes per
  chunk).
- Cosmos round trips per position, counted at the emulator (``GET /_emulator/stats``).
- Both sides send the archive's events: the host through the positions' outbox, the baseline
  the same events (built by ``shared.notices.events`` from the same documents) with the app's
  Service Bus sender after each upsert, to the same queue. The index's consumer is off in the
  bench's hosts: it is another workload, and the baseline has none.
- The worker's memory: a fresh host takes one upload of 50,000 positions in each format (to
  COMPLETED); its peak resident set (``VmHWM`` in ``/proc``) beside its resident set before.

Run: ``python -m bench.notices [--positions 20000] [--singles 2000] [--memory-positions 50000]``.
Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from azure.cosmos.aio import ContainerProxy

from bench.common import (
    Figures,
    bench_settings,
    load,
    start_devhost,
)
from local.cosmos import stats
from local.platform import DEMO_EC, Platform
from local.process import ROOT
from shared.notices.events import ArchiveEvents
from shared.notices.identity import position_id
from shared.platform.clients import Clients
from shared.platform.collector import pace_collector
from shared.platform.config import load_settings
from shared.platform.messaging import ServiceBusSender

DATABASE = "bench-notices"
RAW_DATABASE = "bench-notices-raw"
CREATE = "/api/aca/v1/paCreatePosition"
BULK = "/api/aca/v1/positions/bulk"
UPLOAD = (
    f"/api/upload/aca/debt-positions-service/v2/brokers/{DEMO_EC}/organizations/{DEMO_EC}"
    "/debtpositions/file"
)
SINGLE_CONCURRENCY = 32
FORMATS = ("ndjson", "file")
MEMORY_FIRST = {"ndjson": 100_000_000, "file": 200_000_000}


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


def gpd_position(n: int) -> dict[str, Any]:
    """The same position as :func:`position`, as an element of pagoPA's upload file."""
    iuv = f"01{n:015d}"
    return {
        "iupd": f"ACA_{DEMO_EC}_{iuv}",
        "type": "F",
        "fiscalCode": "RSSMRA85T10A562S",
        "fullName": "Mario Rossi",
        "companyName": "Comune di Demo",
        "switchToExpired": False,
        "paymentOption": [
            {
                "iuv": iuv,
                "amount": 12_050,
                "description": "TARI 2026 - rata unica",
                "isPartialPayment": False,
                "dueDate": "2030-01-31T23:00:00Z",
                "transfer": [
                    {
                        "idTransfer": "1",
                        "amount": 12_050,
                        "remittanceInformation": "TARI 2026 - rata unica",
                        "category": "9/0101108TS/",
                    }
                ],
            }
        ],
    }


def ndjson_upload(first: int, positions: int) -> bytes:
    return "\n".join(json.dumps(position(first + i)) for i in range(positions)).encode()


def file_upload(first: int, positions: int) -> bytes:
    """pagoPA's upload file: a ZIP of one JSON file (indented, as its service writes them)."""
    content = json.dumps(
        {"paymentPositions": [gpd_position(first + i) for i in range(positions)]}, indent=2
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("positions.json", content)
    return buffer.getvalue()


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident set now and at its peak (``/proc/<pid>/status``), in MB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found


HOST_ENV = {"AzureWebJobs.payments_notices_index.Disabled": "true"}
"""The bench's hosts: the archive's events wait on their queue (the baseline has no consumer)."""


class _Unsent:
    """A publisher that keeps nothing: the baseline sends the stamped events itself."""

    def publish_soon(self, document: dict[str, Any], *, only: Any = None) -> None:
        return None


async def upsert_with_events(
    container: ContainerProxy,
    documents: list[dict[str, Any]],
    concurrency: int,
    sender: ServiceBusSender,
    queue: str,
) -> float:
    """Seconds to upsert ``documents`` and send each one's archive events (as a new position
    publishes them) with the app's sender, ``concurrency`` at a time: the raw side of the same
    work the host does."""
    events = ArchiveEvents((queue,), _Unsent())
    now = datetime.now(UTC)
    todo = iter(documents)

    async def worker() -> None:
        for document in todo:
            fresh = {k: v for k, v in document.items() if k not in ("outbox", "seq")}
            sent = events.stamp(None, fresh, now=now)
            await container.upsert_item(fresh)
            await sender.send(queue, [e.outgoing() for e in sent])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def host_concurrency(env: dict[str, str]) -> int:
    host_json = json.loads((ROOT / "host.json").read_text())
    calls = int(host_json["extensions"]["serviceBus"].get("maxConcurrentCalls", 16))
    return calls * int(env["NOTICES_BULK_CONCURRENCY"])


class Bench:
    def __init__(self, platform: Platform, host_url: str) -> None:
        self.host = host_url
        self.port = platform.cosmos.port
        self.env = platform.env
        # the subscription key alone, as pagoPA's contract has it (no function key)
        self.key = {"Ocp-Apim-Subscription-Key": platform.env["DEV_PARTY_KEY_EC"]}
        self.headers = {**self.key, "Content-Type": "application/json"}
        self.singles = itertools.count(10_000_000)  # a new position each, warm-up included
        self.bulks = itertools.count(20_000_000, 1_000_000)

    def round_trips(self) -> int:
        return stats(self.port, reset=True)["requests"]

    async def documents(
        self, container: ContainerProxy, first: int, last: int
    ) -> list[dict[str, Any]]:
        """What the host stored for positions first..last-1 (without system properties): point
        reads of their IUPDs (a query would make the emulator scan every earlier round's
        positions, page after page)."""
        slots = asyncio.Semaphore(64)

        async def read(n: int) -> dict[str, Any]:
            doc_id = position_id(DEMO_EC, f"01{n:015d}")
            async with slots:
                item: dict[str, Any] = await container.read_item(doc_id, partition_key=doc_id)
            return {k: v for k, v in item.items() if not k.startswith("_")}

        return list(await asyncio.gather(*(read(n) for n in range(first, last))))

    async def single(self, session: aiohttp.ClientSession, i: int) -> bool:
        async with session.post(
            self.host + CREATE, json=position(next(self.singles)), headers=self.headers
        ) as response:
            await response.read()
            return response.status == 200

    async def submit(self, session: aiohttp.ClientSession, kind: str, upload: bytes) -> str:
        """Send an upload in format ``kind``; returns the path of its per-line report."""
        if kind == "ndjson":
            async with session.post(self.host + BULK, data=upload, headers=self.key) as response:
                accepted = await response.json()
                assert response.status == 202, accepted
                return str(accepted["report"])
        form = aiohttp.FormData()
        form.add_field("file", upload, filename="positions.zip", content_type="application/zip")
        async with session.post(self.host + UPLOAD, data=form, headers=self.key) as response:
            assert response.status == 202, await response.text()
            await response.read()
            file_id = response.headers["Location"].split("/")[-2]
        return f"/api/aca/v1/bulk/{file_id}"

    async def bulk(self, kind: str, first: int, positions: int) -> tuple[float, int, int]:
        """Seconds from upload to COMPLETED, Cosmos round trips (polls excluded), polls."""
        upload = (ndjson_upload if kind == "ndjson" else file_upload)(first, positions)
        polls = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            self.round_trips()
            started = time.perf_counter()
            report_path = await self.submit(session, kind, upload)
            while True:
                await asyncio.sleep(0.25)
                polls += 1
                async with session.get(self.host + report_path, headers=self.key) as response:
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
            sender = ServiceBusSender(clients)
            queue = clients.settings.payments_notices_queue

            # single writes
            self.round_trips()
            host_single = await load(
                "single write: dev host", self.single, total=singles, concurrency=SINGLE_CONCURRENCY
            )
            single_trips = self.round_trips() / (singles + 100)  # with the warm-up writes
            documents = await self.documents(hosted, 10_000_000, next(self.singles))
            seconds = await upsert_with_events(raw, documents, SINGLE_CONCURRENCY, sender, queue)
            raw_single = Figures("single write: raw upserts", len(documents), seconds, 0, 0, 0)

            # bulk: host then raw, ``rounds`` times per format (alternating, so a noisy moment
            # hits both)
            concurrency = host_concurrency(self.env)
            runs: dict[str, list[tuple[float, int, int, float, int]]] = {k: [] for k in FORMATS}
            for round_ in range(rounds):
                # each format goes first in every other round: an order effect hits both
                for kind in FORMATS if round_ % 2 == 0 else reversed(FORMATS):
                    first = next(self.bulks)
                    bulk_seconds, bulk_trips, polls = await self.bulk(kind, first, positions)
                    documents = await self.documents(hosted, first, first + positions)
                    self.round_trips()
                    raw_seconds = await upsert_with_events(
                        raw, documents, concurrency, sender, queue
                    )
                    runs[kind].append(
                        (bulk_seconds, bulk_trips, polls, raw_seconds, self.round_trips())
                    )
        finally:
            await clients.close()

        print(f"\nsingle writes (new positions) at concurrency {SINGLE_CONCURRENCY}")
        print(host_single.line())
        print(f"{raw_single.name:<28} {raw_single.rps:8.0f} req/s")
        print(
            f"{'':<28} ratio host/raw {host_single.rps / raw_single.rps:.2f}  "
            f"(Cosmos round trips per write: {single_trips:.2f})"
        )
        for kind in FORMATS if rounds else ():  # --rounds 0: single writes and memory only
            label = "NDJSON" if kind == "ndjson" else "pagoPA's upload file (multipart ZIP)"
            print(
                f"\nbulk of {positions} positions, {label}, {rounds} rounds (upload to "
                "COMPLETED, the report polled every 0.25 s)"
            )
            for bulk_seconds, bulk_trips, polls, raw_seconds, raw_trips in runs[kind]:
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
            host_total = sum(run[0] for run in runs[kind])
            raw_total = sum(run[3] for run in runs[kind])
            print(f"{'':<28} ratio host/raw {raw_total / host_total:.2f}  (target >= 0.7)")
        print(
            "The host also authenticates, stores the upload in Blob storage, fans it out "
            "through Service Bus, validates\nand authorizes every line, keeps its history "
            "and records each chunk's result; raw upserts only write."
        )

    async def memory(self, kind: str, positions: int, pid: int) -> dict[str, float]:
        """One upload of ``positions`` to COMPLETED on a fresh host: its memory before and at
        its peak."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            async with session.post(
                self.host + CREATE, json=position(next(self.singles)), headers=self.headers
            ) as response:  # warm: the app's clients exist before the baseline
                await response.read()
            before = memory_mb(pid)
            # positions of their own: the main run wrote 20,000,000 on, and a write to a position
            # that exists is an update (three round trips), not the create being measured
            first = MEMORY_FIRST[kind]
            upload = (ndjson_upload if kind == "ndjson" else file_upload)(first, positions)
            started = time.perf_counter()
            report_path = await self.submit(session, kind, upload)
            del upload
            while True:
                await asyncio.sleep(0.5)
                async with session.get(self.host + report_path, headers=self.key) as response:
                    report = await response.json()
                if report["status"] == "COMPLETED":
                    break
        assert report["written"] == positions, report
        after = memory_mb(pid)
        return {
            "before": before["VmRSS"],
            "peak": after["VmHWM"],
            "seconds": time.perf_counter() - started,
        }


def fresh_host_memory(
    platform: Platform, make: Callable[[str], Bench], kind: str, positions: int
) -> dict[str, float]:
    host = start_devhost(platform, **HOST_ENV)
    try:
        bench = make(f"http://127.0.0.1:{host.port}")
        return asyncio.run(bench.memory(kind, positions, host.proc.pid))
    finally:
        host.stop()


def main() -> None:
    pace_collector()  # the raw side runs here: the worker's collector setting, as in the host
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=20_000)
    parser.add_argument("--singles", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory-positions", type=int, default=50_000)
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
            host = start_devhost(platform, **HOST_ENV)
            try:
                asyncio.run(
                    Bench(platform, f"http://127.0.0.1:{host.port}").run(
                        args.positions, args.singles, args.rounds
                    )
                )
            finally:
                host.stop()
            if args.memory_positions:
                print(
                    f"\nthe worker's memory: a fresh dev host, one upload of "
                    f"{args.memory_positions} positions to COMPLETED (target: peak <= 250 MB)"
                )
                for kind in FORMATS:
                    found = fresh_host_memory(
                        platform,
                        lambda url: Bench(platform, url),
                        kind,
                        args.memory_positions,
                    )
                    label = "NDJSON" if kind == "ndjson" else "upload file (multipart ZIP)"
                    print(
                        f"{label:<28} peak resident {found['peak']:6.0f} MB  (before the "
                        f"upload {found['before']:.0f} MB; {found['seconds']:.1f} s)"
                    )
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
