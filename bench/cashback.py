"""Benchmark of cashback's transaction scoring through its queue consumer, beside raw SDK writes
of the same documents to the same Cosmos emulator at the same concurrency, in the same run; and
the ranking of 200,000 synthetic citizens in memory.

- Set-up (not timed): citizens enrolled with one card each, enabled for cashback (their
  documents written straight to Cosmos), and acquirers' batches of transactions submitted through
  the real intake (``Intake.submit``: validation, chunks of 250 lines) to the local Service Bus
  broker. Most lines are payments; about 5% are reversals of an earlier payment.
- Scored: the consumer function ``cashback_score`` (``functions/cashback.py``: the queue edge,
  ``Scorer.process``, the Cosmos store) fed the broker's messages as the dev host feeds them:
  peek-lock receive, ``to_function_message``, invoke, complete; host.json's
  ``maxConcurrentCalls`` messages at once. Timed from the first receive to the last completion.
- Baseline: ``upsert_item`` of the documents the consumer wrote (each (citizen, period) state
  once per chunk that touched it, each match document (citizen, match key) once per chunk that
  touched it, and each transaction's record) into another database of the same emulator, with
  the app's own Cosmos client, at the consumer's concurrency (``maxConcurrentCalls`` x the
  scorer's citizens at once). (No citizen has enough lines in one chunk to need two batches.)
- Cosmos round trips per transaction, counted at the emulator (``GET /_emulator/stats``).
- Ranking: ``rank_standings`` (what the ranking and payout jobs do in memory: parse the
  standings rows and sort them by the ranking rule) on 200,000 made-up rows with ties, beside a bare
  ``sorted`` of plain tuples by the same key.

- Files: the file phase, :mod:`bench.cashback_files` (an encrypted RTD file from upload to
  scored beside decrypt-and-parse only, and the worker's peak memory at 100k and 1M lines).

Run: ``python -m bench.cashback [--citizens 2000] [--transactions 20000] [--file-lines 100000]``.
Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import random
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.servicebus.aio import ServiceBusClient

from bench.common import upsert_all
from local.cosmos import stats
from local.devhost import functions_of, to_function_message
from local.platform import Platform
from local.process import ROOT
from shared.auth.fiscal_code import check_character, fiscal_code_hash

FUNCTION_KEY = "bench-function-key"
ADMIN_KEY = "bench-admin-key"
DATABASE = "bench-cashback"
RAW_DATABASE = "bench-cashback-raw"
ACQUIRER = "BENCHACQ"
PERIODS = (
    '[{"id": 9, "from": "2026-01-01", "to": "2099-12-31", "minTransactions": 50, '
    '"maxPerTransaction": 1500, "maxPerPeriod": 15000, "superCashback": 150000, '
    '"topN": 100000, "graceDays": 15}]'
)
ENABLED_AT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
FIRST_DAY = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
BATCH = 10_000
RANKED = 200_000


def settings(queue: str) -> dict[str, str]:
    values: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ]
    values.update(
        LOCAL_FUNCTION_KEY=FUNCTION_KEY,
        LOCAL_ADMIN_KEY=ADMIN_KEY,
        COSMOS_DATABASE=DATABASE,
        LOG_LEVEL="WARNING",
        CASHBACK_PERIODS=PERIODS,
        CASHBACK_TRANSACTIONS_QUEUE=queue,
    )
    return values


def host_calls() -> int:
    host_json = json.loads((ROOT / "host.json").read_text())
    return int(host_json["extensions"]["serviceBus"].get("maxConcurrentCalls", 16))


def fiscal_code(n: int) -> str:
    """A valid fiscal code per ``n`` (the first six letters spell ``n`` in base 26)."""
    letters = ""
    for _ in range(6):
        n, digit = divmod(n, 26)
        letters += chr(ord("A") + digit)
    first15 = letters + "85T10A562"
    return first15 + check_character(first15)


def card(n: int) -> str:
    return hashlib.sha256(f"bench-card-{n}".encode()).hexdigest()


def citizen_documents(n: int) -> list[dict[str, Any]]:
    """Citizen ``n`` enrolled, with card ``n`` enabled for cashback since ENABLED_AT."""
    from shared.cashback.documents import (
        Span,
        StoredCitizen,
        StoredHolder,
        StoredHpan,
        StoredInstrument,
        dump,
        hpan_pk,
        instrument_id,
    )

    cf, hpan = fiscal_code(n), card(n)
    citizen_id = fiscal_code_hash(cf)
    citizen = StoredCitizen(
        pk=citizen_id,
        fiscal_code=cf,
        status="ENROLLED",
        terms_accepted_at=ENABLED_AT - timedelta(days=1),
        enrolled_at=ENABLED_AT - timedelta(days=1),
        updated_at=ENABLED_AT,
    )
    instrument = StoredInstrument(
        id=instrument_id(hpan),
        pk=citizen_id,
        hpan=hpan,
        wallet_id=str(uuid.uuid4()),
        type="CARD",
        wallet_status="VALIDATED",
        wallet_event_at=ENABLED_AT,
        status="ENABLED",
        history=[Span(enabled_at=ENABLED_AT)],
        updated_at=ENABLED_AT,
    )
    # As enabling writes it: with what scoring needs of its holder.
    holder = StoredHolder(
        fiscal_code=cf, terms_accepted_at=citizen.terms_accepted_at, history=instrument.history
    )
    owner = StoredHpan(
        id=hpan,
        pk=hpan_pk(hpan),
        active=citizen_id,
        citizens=[citizen_id],
        holders={citizen_id: holder},
        updated_at=ENABLED_AT,
    )
    return [dump(citizen), dump(instrument), dump(owner)]


def transactions(
    citizens: int, total: int, seed: int = 7
) -> tuple[list[dict[str, Any]], list[int]]:
    """Acquirer lines (about 5% reversals of an earlier payment) and whose each one is."""
    rng = random.Random(seed)
    lines: list[dict[str, Any]] = []
    owners: list[int] = []
    payments: list[tuple[int, dict[str, Any]]] = []
    for i in range(total):
        if payments and rng.random() < 0.05:
            who, paid = payments[rng.randrange(len(payments))]
            line = {
                **paid,
                "idTrxAcquirer": f"r{i}",
                "operationType": "01",
                "amount": rng.choice([paid["amount"], max(1, paid["amount"] // 3)]),
                "trxDate": (
                    datetime.fromisoformat(paid["trxDate"]) + timedelta(hours=2)
                ).isoformat(),
            }
        else:
            who = rng.randrange(citizens)
            at = FIRST_DAY + timedelta(minutes=rng.randrange(60 * 24 * 120))
            line = {
                "acquirerId": ACQUIRER,
                "acquirerCode": "12345",
                "idTrxAcquirer": f"p{i}",
                "hpan": card(who),
                "operationType": rng.choice(["00", "00", "00", "02", "03"]),
                "trxDate": at.isoformat(),
                "amount": rng.randrange(100, 30_000),
                "merchantId": f"shop-{rng.randrange(500)}",
                "terminalId": "pos-1",
                "correlationId": f"c{i}",
                "circuitType": "01",
            }
            payments.append((who, line))
        lines.append(line)
        owners.append(who)
    return lines, owners


def chunk_writes(owners: list[Any]) -> dict[Any, int]:
    """How often the consumer writes each of these documents (a citizen's period state, a
    match document), given the document each line touches: once per chunk with its lines
    (every line is accepted, so the chunks are each batch's lines 250 at a time)."""
    from shared.cashback.chunks import CHUNK_LINES

    writes: dict[Any, int] = {}
    for start in range(0, len(owners), BATCH):
        batch = owners[start : start + BATCH]
        for chunk in range(0, len(batch), CHUNK_LINES):
            lines = batch[chunk : chunk + CHUNK_LINES]
            # a line writes its match document and its record; with the state, one batch
            assert max(Counter(lines).values()) * 2 + 1 <= 100, "two batches: not counted"
            for who in set(lines):
                writes[who] = writes.get(who, 0) + 1
    return writes


def match_ids(lines: list[dict[str, Any]]) -> list[str]:
    """The match document (its id) each line touches."""
    from shared.cashback.acquirer_api import TransactionIn
    from shared.cashback.documents import match_id
    from shared.cashback.rules import match_key

    return [match_id(match_key(TransactionIn.model_validate(line).rule_view())) for line in lines]


@functools.cache
def scorer_function() -> Any:
    """The consumer function, read once: the app's decorators may be read only once."""
    import function_app

    [scorer] = [f for f in functions_of(function_app.app) if f.name == "cashback_score"]
    return scorer


async def consume(connection: str, queue: str, messages: int, calls: int) -> float:
    """Feed ``messages`` of ``queue`` to the consumer function as the dev host does; seconds."""
    scorer = scorer_function()
    slots = asyncio.Semaphore(calls)
    running: set[asyncio.Task[None]] = set()
    failed = 0
    done = 0
    async with (
        ServiceBusClient.from_connection_string(connection) as client,
        client.get_queue_receiver(queue, prefetch_count=0) as receiver,
    ):

        async def deliver(message: Any) -> None:
            nonlocal done, failed
            try:
                await scorer.invoke(to_function_message(message))
            except Exception:
                failed += 1
                await receiver.abandon_message(message)
            else:
                await receiver.complete_message(message)
                done += 1
            finally:
                slots.release()

        started = time.perf_counter()
        while done < messages:
            await slots.acquire()
            slots.release()
            free = calls - len(running)
            received = await receiver.receive_messages(
                max_message_count=max(1, free), max_wait_time=0.5
            )
            for message in received:
                await slots.acquire()
                task = asyncio.create_task(deliver(message))
                running.add(task)
                task.add_done_callback(running.discard)
        seconds = time.perf_counter() - started
        await asyncio.gather(*running)
    if failed:
        print(f"({failed} deliveries failed and were delivered again)")
    return seconds


class Bench:
    def __init__(self, platform: Platform, queue: str) -> None:
        self.platform = platform
        self.queue = queue
        self.port = platform.cosmos.port

    async def run(self, citizens: int, total: int) -> None:
        from functions.root import get_root
        from shared.cashback.acquirer_api import TransactionBatchIn
        from shared.cashback.intake import Intake
        from shared.cashback.rules import parse_periods
        from shared.platform.clients import Clients, close_clients
        from shared.platform.config import load_settings

        root = get_root()
        store = root.clients.container(root.settings.cashback_container)
        raw_clients = Clients(load_settings({**self.platform.env, "COSMOS_DATABASE": RAW_DATABASE}))
        raw = raw_clients.container(raw_clients.settings.cashback_container)
        try:
            seeded = [d for n in range(citizens) for d in citizen_documents(n)]
            await upsert_all(store, seeded, 32)
            lines, owners = transactions(citizens, total)
            intake = Intake(root.sender, self.queue, parse_periods(PERIODS))
            now = datetime.now(UTC)
            chunks = 0
            for start in range(0, total, BATCH):
                submitted = TransactionBatchIn(transactions=lines[start : start + BATCH])
                accepted = await intake.submit(ACQUIRER, submitted, now=now)
                assert accepted.accepted == len(submitted.transactions), accepted.rejected[:3]
                chunks += -(-accepted.accepted // 250)

            calls = host_calls()
            stats(self.port, reset=True)
            cpu = time.process_time()
            seconds = await consume(
                self.platform.env["ServiceBusConnection"], self.queue, chunks, calls
            )
            cpu = time.process_time() - cpu
            trips = stats(self.port, reset=True)["requests"]

            written = [
                item
                async for item in store.query_items(
                    "SELECT * FROM c WHERE c.kind = 'transaction' OR c.kind = 'period' "
                    "OR c.kind = 'match'"
                )
            ]
            plain = [{k: v for k, v in d.items() if not k.startswith("_")} for d in written]
            records = [d for d in plain if d["kind"] == "transaction"]
            states = {d["pk"]: d for d in plain if d["kind"] == "period"}
            matches = {d["id"]: d for d in plain if d["kind"] == "match"}
            assert len(records) == total, (len(records), total)
            # Each state and match document as often as the consumer wrote it (its final
            # content each time).
            writes = chunk_writes(owners)
            match_writes = chunk_writes(match_ids(lines))
            assert set(match_writes) == set(matches), "a match document is missing"
            baseline = [
                states[fiscal_code_hash(fiscal_code(who))]
                for who, times in writes.items()
                for _ in range(times)
            ]
            baseline += [matches[id_] for id_, times in match_writes.items() for _ in range(times)]
            baseline += records
            from shared.cashback.scorer import CONCURRENCY

            concurrency = calls * CONCURRENCY
            raw_cpu = time.process_time()
            raw_seconds = await upsert_all(raw, baseline, concurrency)
            raw_cpu = time.process_time() - raw_cpu
            raw_trips = stats(self.port, reset=True)["requests"]
        finally:
            await raw_clients.close()
            await close_clients()

        rate, raw_rate = total / seconds, total / raw_seconds
        print(
            f"\nscoring {total} transactions of {citizens} citizens ({chunks} messages of "
            f"up to 250 lines, {calls} at once; {sum(writes.values())} state writes + "
            f"{sum(match_writes.values())} match document writes + {total} records)"
        )
        print(
            f"{'consumer (cashback_score)':<30} {rate:8.0f} transactions/s  ({seconds:.1f} s; "
            f"Cosmos round trips per transaction {trips / total:.2f}; this process's CPU "
            f"{cpu:.1f} s)"
        )
        print(
            f"{'raw SDK upserts, same docs':<30} {raw_rate:8.0f} transactions/s  "
            f"({raw_seconds:.1f} s, {len(baseline)} upserts at concurrency {concurrency}; "
            f"round trips per transaction {raw_trips / total:.2f}; CPU {raw_cpu:.1f} s)"
        )
        print(f"{'':<30} ratio consumer/raw {rate / raw_rate:.2f}  (target >= 0.5)")


def rank_figures(citizens: int = RANKED) -> None:
    from shared.cashback.ranking import rank_standings

    rng = random.Random(11)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = [
        {
            "pk": hashlib.sha256(str(n).encode()).hexdigest(),
            "fiscalCode": fiscal_code(n),
            "count": rng.randrange(1, 120),
            "cashback": rng.randrange(0, 20_000),
            # minutes, not seconds: many citizens tie on count and last transaction
            "lastTransactionAt": (base + timedelta(minutes=rng.randrange(5000))).isoformat(),
            "termsAcceptedAt": (base - timedelta(days=rng.randrange(60))).isoformat(),
        }
        for n in range(citizens)
    ]
    now = datetime.now(UTC)
    started = time.perf_counter()
    ranked = rank_standings(rows, now=now)
    seconds = time.perf_counter() - started
    plain = [
        (-r["count"], r["lastTransactionAt"], r["termsAcceptedAt"], r["fiscalCode"]) for r in rows
    ]
    started = time.perf_counter()
    sorted(plain)
    bare = time.perf_counter() - started
    assert len(ranked) == citizens
    assert ranked[0][1].count == max(r["count"] for r in rows)
    print(f"\nranking {citizens} citizens in memory (parse the standings rows + the ranking rule)")
    print(f"{'rank_standings':<30} {seconds:8.2f} s")
    print(f"{'bare sorted() of tuples':<30} {bare:8.2f} s  (no parsing)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=2_000)
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument(
        "--file-lines",
        type=int,
        default=100_000,
        help="the file phase (bench/cashback_files.py): lines from upload to scored; 0: skip",
    )
    args = parser.parse_args()
    queue = f"bench-cashback-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as state:
        platform = Platform(Path(state), settings(queue), azurite=False)
        try:
            platform.provision()
            platform.provision(RAW_DATABASE)
            import os

            os.environ.update(platform.env)
            asyncio.run(Bench(platform, queue).run(args.citizens, args.transactions))
        finally:
            platform.stop()
    rank_figures()
    if args.file_lines:
        # acquirers' files, on emulators of their own (Azurite besides): bench/cashback_files.py
        import subprocess
        import sys

        subprocess.run(
            [sys.executable, "-m", "bench.cashback_files", "--lines", str(args.file_lines)],
            check=True,
        )


if __name__ == "__main__":
    main()
