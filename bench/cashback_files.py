"""Benchmark of acquirers' files (the file phase of bench/cashback.py): an encrypted RTD file
from upload to scored, beside a baseline that only decrypts and parses the same file, in the
same run; and the worker's peak memory.

- Set-up (not timed): citizens enrolled with one card each (bench.cashback's documents), the
  acquirer BENCHACQ registered for ABI 12345, a file of ``--lines`` lines (about 5% reversals)
  in the interface's format, encrypted with gpg to the platform's dev key.
- Baseline: GnuPG decryption + the streaming parser over the file on disk (no validation, no
  storage, no queue): lines/s. Beside it, what a resumed slice spends reaching its checkpoint:
  the same file decrypted and split into lines, none parsed (lines/s).
- Upload to scored: a worker process started and warmed first (imports, the key imported and
  checked, as a function host's worker is when the event arrives); then the file put into the
  acquirer's container in Azurite (as SFTP or the HTTPS upload lands it), the worker running
  the file intake (``FileIntake.process``: download, decrypt, parse, per-line rules, chunks to
  the broker) while this process feeds the chunks to ``cashback_score`` as the dev host does;
  timed from the upload to the last chunk scored.
- JSON API, same kind of lines: another file's lines (the same generator, other citizens)
  submitted through ``Intake.submit`` in batches of 10,000 while the same consumer scores
  them; timed from the first submission to the last chunk scored; once before the file and
  once after it (a later run finds a fuller emulator), the file compared with their mean.
  Ratio file/JSON >= 1 is the target; Cosmos round trips per line of each.
- Memory: the worker alone (chunks discarded) on each of ``--memory-lines`` sizes: its own
  peak resident memory (VmHWM), and the ratio of the biggest size's to the smallest's.

Run: ``python -m bench.cashback_files [--lines 100000] [--memory-lines 100000,1000000]
[--json-lines N]``
(``python -m bench.cashback --file-lines N`` runs it after the scoring bench). Prints;
asserts nothing but the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.cashback import FIRST_DAY, card, citizen_documents, consume, host_calls, settings
from bench.common import upsert_all
from local.cosmos import stats
from local.pgp import encrypt_file, public_of
from local.platform import Platform

ACQUIRER = "BENCHACQ"
ABI = "12345"
PREFIX = "rtd-"


def write_file(
    path: Path, citizens: int, total: int, seed: int = 7, first_citizen: int = 0
) -> None:
    """``total`` lines of the interface's 15 columns (the PAR after them, empty), of citizens
    ``first_citizen`` to ``first_citizen + citizens - 1``, written as they are made: about 5%
    reverse one of the last thousand payments."""
    rng = random.Random(seed)
    recent: deque[tuple[str, datetime, int, str]] = deque(maxlen=1000)
    with path.open("w") as out:
        for i in range(total):
            if recent and rng.random() < 0.05:
                hpan, at, amount, corr = recent[rng.randrange(len(recent))]
                op, at, amount = "01", at + timedelta(hours=2), max(1, amount // 3)
            else:
                hpan = card(first_citizen + rng.randrange(citizens))
                at = FIRST_DAY + timedelta(minutes=rng.randrange(60 * 24 * 120))
                amount, corr, op = rng.randrange(100, 30_000), f"c{i}", "00"
                recent.append((hpan, at, amount, corr))
            stamp = at.isoformat(timespec="milliseconds")
            out.write(
                f"{ABI};{op};01;{hpan};{stamp};t{i};AUTH;{corr};{amount};978;{ACQUIRER};"
                f"shop-{i % 500};pos-1;40236010;5411;\n"
            )


async def _read(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(1 << 16):
            yield block


async def baseline(path: Path, private_key: str) -> tuple[int, float, float]:
    """Decrypt and parse only: (lines, seconds); and the seconds a resumed slice takes to skip
    the whole file (decrypt and split, no parsing: ``parse_stream``'s ``skip``)."""
    from shared.cashback.pgp import GnuPG, PrivateKey
    from shared.cashback.rtd_files import ParsedLine, parse_stream

    async def key() -> PrivateKey:
        return PrivateKey(private_key)

    gpg = GnuPG(key)
    await gpg.check()
    started = time.perf_counter()
    count = sum(
        [1 async for item in parse_stream(gpg.decrypt(_read(path))) if isinstance(item, ParsedLine)]
    )
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    rest = [item async for item in parse_stream(gpg.decrypt(_read(path)), skip=count)]
    skip_seconds = time.perf_counter() - started
    assert rest == [], len(rest)
    await gpg.close()
    return count, seconds, skip_seconds


async def json_path(platform: Platform, queue: str, path: Path) -> tuple[int, float]:
    """The same kind of lines through the JSON API's intake (``Intake.submit``, batches of
    10,000) and the same consumer, submitted while the consumer runs, as the file's chunks
    arrive: (lines, seconds from the first submission to the last chunk scored)."""
    from bench.cashback import BATCH
    from functions.root import get_root
    from shared.cashback.acquirer_api import TransactionBatchIn
    from shared.cashback.intake import Intake
    from shared.cashback.rtd_files import ParsedLine, parse_stream

    lines = [
        item.transaction.model_dump(mode="json", by_alias=True)
        async for item in parse_stream(_read(path))
        if isinstance(item, ParsedLine)
    ]
    root = get_root()
    intake = Intake(root.sender, queue, root.cashback().calendar)
    chunks = sum(-(-len(lines[i : i + BATCH]) // 250) for i in range(0, len(lines), BATCH))
    started = time.perf_counter()
    scoring = asyncio.create_task(
        consume(platform.env["ServiceBusConnection"], queue, chunks, host_calls())
    )
    for start in range(0, len(lines), BATCH):
        batch = TransactionBatchIn(transactions=lines[start : start + BATCH])
        accepted = await intake.submit(ACQUIRER, batch, now=datetime.now(UTC))
        assert accepted.accepted == len(batch.transactions), accepted.rejected[:3]
    await scoring
    return len(lines), time.perf_counter() - started


def own_peak_mb() -> float:
    """This process's own peak resident memory since it started (VmHWM). Not ``ru_maxrss``:
    a child started by vfork and exec reports its parent's peak there (a 1M-line upload in
    the bench's process showed up as the worker's 290 MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM: Linux only")


class _Discard:
    async def send(self, queue: str, messages: Sequence[Any]) -> None:
        return None


async def worker(container: str, name: str, discard: bool) -> dict[str, Any]:
    """The file intake in this process (a worker's share): its outcome and peak memory."""
    from functions.root import get_root
    from shared.cashback.file_intake import FileIntake
    from shared.platform.clients import close_clients

    root = get_root()
    files = root.cashback_files
    s = root.settings
    intake = FileIntake(
        blobs=files.blobs,
        decryptor=files.gnupg,
        store=files.store,
        parties=root.parties(),
        sender=_Discard() if discard else root.sender,
        queue=s.cashback_transactions_queue,
        periods=root.cashback().calendar,
        container_prefix=s.cashback_files_container_prefix,
    )
    # Warm, as a function host's worker is when an event arrives: imports done, the key
    # imported and checked (the health check does it at start-up); then wait for the event.
    await files.gnupg.check()
    ready_mb = own_peak_mb()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    started = time.perf_counter()
    record = await intake.process(
        ACQUIRER, container, name, received_at=datetime.now(UTC), now=datetime.now(UTC)
    )
    seconds = time.perf_counter() - started
    await files.close()
    await close_clients()
    peak_mb = own_peak_mb()
    return {
        "status": record.status,
        "accepted": record.accepted,
        "rejected": record.rejected,
        "seconds": seconds,
        "peakMb": peak_mb,
        "readyMb": ready_mb,
    }


class Worker:
    """A worker process, started and warmed before the file lands; :meth:`go` is the event."""

    def __init__(self, child: asyncio.subprocess.Process) -> None:
        self._child = child

    @classmethod
    async def start(cls, env: dict[str, str], container: str, name: str, discard: bool) -> Worker:
        argv = [sys.executable, "-m", "bench.cashback_files", "--worker", container, name]
        if discard:
            argv.append("--discard")
        child = await asyncio.create_subprocess_exec(
            *argv,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        while (line := await child.stdout.readline()) and line.strip() != b"ready":
            pass
        return cls(child)

    async def go(self) -> dict[str, Any]:
        out, _ = await self._child.communicate(b"go\n")
        found: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return found


async def bench(
    platform: Platform,
    queue: str,
    citizens: int,
    lines: int,
    memory_lines: list[int],
    json_lines: int | None = None,
) -> None:
    from azure.storage.blob.aio import BlobServiceClient

    from functions.root import get_root
    from shared.parties.models import PartyIn
    from shared.platform.clients import close_clients

    root = get_root()
    await upsert_all(
        root.clients.container(root.settings.cashback_container),
        # the file's citizens, then those of the JSON runs before and after it: no run finds
        # another's documents
        [d for n in range(3 * citizens) for d in citizen_documents(n)],
        32,
    )
    await root.parties().register(
        PartyIn(party_id=ACQUIRER, name="bench acquirer", role="acquirer", acts_for={ABI: []}),
        now=datetime.now(UTC),
    )
    private_key = await root.secrets.get(root.settings.cashback_pgp_private_key_secret)
    public_key = public_of(private_key)
    container = f"{PREFIX}{ACQUIRER.lower()}"
    storage = platform.env["AzureWebJobsStorage"]
    env = dict(platform.env)

    async def json_run(work: str, size: int, which: int) -> tuple[float, float]:
        """The JSON API on ``size`` lines of the ``which``-th other set of citizens: (lines/s,
        Cosmos round trips per line)."""
        same_kind = Path(work) / "json.csv"
        write_file(same_kind, citizens, size, seed=7 + which, first_citizen=which * citizens)
        stats(platform.cosmos.port, reset=True)
        done, seconds = await json_path(platform, queue, same_kind)
        trips = stats(platform.cosmos.port, reset=True)["requests"]
        same_kind.unlink()
        return done / seconds, trips / done

    with tempfile.TemporaryDirectory() as work:
        figures: list[tuple[int, dict[str, Any]]] = []
        runs = [(lines, False)] + [(size, True) for size in memory_lines]
        for run, (size, discard) in enumerate(runs, start=1):
            plain, sealed = Path(work) / f"{size}.csv", Path(work) / f"{size}.csv.pgp"
            write_file(plain, citizens, size)
            encrypt_file(public_key, plain, sealed)
            plain.unlink()
            name = f"CSTAR.{ABI}.TRNLOG.20261207.1000{run:02d}.001.csv.pgp"
            if not discard:
                parsed, base_seconds, skip_seconds = await baseline(sealed, private_key)
                assert parsed == size, (parsed, size)
                # The JSON API before the file and after it: the emulator slows as it fills,
                # so the file is compared with the mean of the two.
                before, before_trips = await json_run(work, json_lines or size, 1)
            warm = await Worker.start(env, container, name, discard)
            stats(platform.cosmos.port, reset=True)
            started = time.perf_counter()
            async with BlobServiceClient.from_connection_string(storage) as blobs:
                if not await blobs.get_container_client(container).exists():
                    await blobs.create_container(container)
                with sealed.open("rb") as data:
                    await blobs.get_blob_client(container, name).upload_blob(data, overwrite=True)
            job = asyncio.create_task(warm.go())
            if not discard:
                chunks = -(-size // 250)
                await consume(platform.env["ServiceBusConnection"], queue, chunks, host_calls())
            outcome = await job
            total = time.perf_counter() - started
            trips = stats(platform.cosmos.port, reset=True)["requests"]
            if not discard:
                after, after_trips = await json_run(work, json_lines or size, 2)
            assert outcome["accepted"] == size, outcome
            figures.append((size, outcome))
            if not discard:
                rate, base_rate = size / total, size / base_seconds
                print(f"\nfile of {size} lines ({sealed.stat().st_size / 1e6:.1f} MB encrypted)")
                print(
                    f"{'upload to scored':<30} {rate:8.0f} lines/s  ({total:.1f} s; the worker's "
                    f"intake {outcome['seconds']:.1f} s)"
                )
                print(
                    f"{'decrypt + parse only':<30} {base_rate:8.0f} lines/s  ({base_seconds:.1f} s)"
                )
                print(f"{'':<30} ratio upload-to-scored/baseline {rate / base_rate:.2f}")
                print(
                    f"{'skip to a checkpoint':<30} {size / skip_seconds:8.0f} lines/s  "
                    f"({skip_seconds:.1f} s; ratio to decrypt + parse "
                    f"{base_seconds / skip_seconds:.2f})"
                )
                for label, json_rate, json_trips in (
                    ("JSON API before the file", before, before_trips),
                    ("JSON API after the file", after, after_trips),
                ):
                    print(
                        f"{label:<30} {json_rate:8.0f} lines/s  ({json_lines or size} lines, "
                        f"submission to scored, same kind of lines; Cosmos round trips per "
                        f"line {json_trips:.2f}, the "
                        f"file's {trips / size:.2f})"
                    )
                mean = (before + after) / 2
                print(f"{'':<30} ratio file/JSON API (mean) {rate / mean:.2f}  (target >= 1)")
        print("\nthe worker's peak resident memory (file intake: download, decrypt, parse, rules)")
        for size, outcome in figures:
            how = "chunks to the broker" if outcome is figures[0][1] else "chunks discarded"
            print(
                f"{size:>9} lines {outcome['peakMb']:8.0f} MB  (warm and idle "
                f"{outcome['readyMb']:.0f} MB; intake {outcome['seconds']:.1f} s, "
                f"{size / outcome['seconds']:.0f} lines/s; {how}; target <= 300 MB)"
            )
        alone = [(size, outcome) for size, outcome in figures[1:]]
        if len(alone) >= 2:
            (small, first), (big, last) = (f(alone, key=lambda x: x[0]) for f in (min, max))
            print(
                f"{'':<15} ratio of the peaks {big} lines/{small} lines "
                f"{last['peakMb'] / first['peakMb']:.2f}  (size-independent: ~1)"
            )
    await close_clients()


def dev_private_key() -> str:
    """The platform's dev PGP key, as a local run has it (LOCAL_SECRETS)."""
    values = json.loads(Path("local.settings.example.json").read_text())["Values"]
    secret: str = json.loads(values["LOCAL_SECRETS"])[values["CASHBACK_PGP_PRIVATE_KEY_SECRET"]]
    return secret


async def skip_only(citizens: int, size: int, private_key: str) -> None:
    """What a resumed slice spends reaching its checkpoint, beside decrypting and parsing."""
    with tempfile.TemporaryDirectory() as work:
        plain, sealed = Path(work) / "plain.csv", Path(work) / "sealed.csv.pgp"
        write_file(plain, citizens, size)
        encrypt_file(public_of(private_key), plain, sealed)
        parsed, seconds, skip_seconds = await baseline(sealed, private_key)
    assert parsed == size, (parsed, size)
    print(f"file of {size} lines")
    print(f"{'decrypt + parse only':<30} {size / seconds:8.0f} lines/s  ({seconds:.1f} s)")
    print(
        f"{'skip to a checkpoint':<30} {size / skip_seconds:8.0f} lines/s  ({skip_seconds:.1f} s;"
        f" {seconds / skip_seconds:.2f}x decrypt + parse)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=2_000)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument(
        "--memory-lines",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=[100_000, 1_000_000],
        help="comma-separated sizes for the worker alone (chunks discarded); empty: none",
    )
    parser.add_argument(
        "--json-lines",
        type=int,
        default=None,
        help="lines of each JSON API run (default: --lines; a 1,000,000-line file's JSON runs "
        "would take an hour against the emulator, and a rate needs far fewer)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("CONTAINER", "NAME"))
    parser.add_argument("--discard", action="store_true")
    parser.add_argument(
        "--skip-only",
        action="store_true",
        help="only decrypt + parse beside the skip to a checkpoint, with the dev key; no emulators",
    )
    args = parser.parse_args()
    if args.skip_only:
        asyncio.run(skip_only(args.citizens, args.lines, dev_private_key()))
        return
    if args.worker:
        container, name = args.worker
        print(json.dumps(asyncio.run(worker(container, name, args.discard))))
        return
    queue = f"bench-files-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as state:
        values = settings(queue)
        platform = Platform(Path(state), values, azurite=True)
        try:
            platform.provision()
            os.environ.update(platform.env)
            asyncio.run(
                bench(
                    platform,
                    queue,
                    args.citizens,
                    args.lines,
                    args.memory_lines,
                    args.json_lines,
                )
            )
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
