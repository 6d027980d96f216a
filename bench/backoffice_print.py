"""Paper notice batches as the print job's queue worker renders them, in process: notices/s and
peak memory of a 1,000-notice batch beside a 100-notice one (a ratio of peaks near 1 means the
worker's memory is bounded by a part, not by the batch).

The worker (``PrintJobs.render``) reads the search a page at a time, renders each part of 25
notices in a thread and stages it as one block of the job's blob. Here it runs on in-memory
ports (the archive's own search and registry fakes, no emulator) and a store whose blocks are
counted and dropped, as an upload sends them away, so the figures are the worker's, not the
network's. Peak memory: tracemalloc over the worker's call only (the request, which checks the
search and queues the job, is not part of it). The EC has a postal account, so every page
carries the QR code and the data matrix.

    python -m bench.backoffice_print [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from datetime import datetime

from shared.backoffice.print_jobs import PrintJob, PrintJobs
from shared.backoffice.printing import NoticePrinter
from shared.backoffice.service import BackOffice
from shared.notices.search import PositionFilter
from shared.parties.models import PartyIn
from shared.parties.users import BackOfficeUsers, UserIn
from tests.fakes.notices import MemoryPositionSearch
from tests.fakes.platform import MemorySender
from tests.unit.backoffice.test_backoffice import VIEWER
from tests.unit.notices.fakes import EC, IBAN, World, position


class CountingJobs:
    """A job store whose PDF blocks are counted, not kept (they leave with the upload)."""

    def __init__(self) -> None:
        self.jobs: dict[str, PrintJob] = {}
        self.bytes = 0
        self.blocks = 0

    async def save(self, job: PrintJob) -> None:
        self.jobs[job.id] = job

    async def load(self, job_id: str) -> PrintJob | None:
        return self.jobs.get(job_id)

    async def stage(self, job_id: str, part: int, data: bytes) -> None:
        self.bytes += len(data)
        self.blocks += 1

    async def commit(self, job_id: str, parts: int, filename: str) -> None:
        pass

    async def read_url(self, job_id: str, *, now: datetime, minutes: int) -> str:
        return ""


async def worker(count: int) -> tuple[PrintJobs, CountingJobs, MemorySender, World]:
    world = World()
    await world.seed()
    ec = PartyIn.model_validate(
        {
            "partyId": EC,
            "name": "Comune di Demo",
            "role": "ec",
            "defaultIban": IBAN,
            "postalAccount": "123456789012",
        }
    )
    party = await world.registry.register(ec, now=world.now)
    for n in range(count):
        await world.archive.publish(party, position(n + 1), segregation_codes=None, now=world.now)
    users = BackOfficeUsers(world.party_store)
    await users.put(VIEWER.object_id, UserIn(name="V", ecs={EC: "viewer"}), now=world.now)
    office = BackOffice(users, world.archive, MemoryPositionSearch(world.store))
    store, sender = CountingJobs(), MemorySender()
    printer = NoticePrinter(office, world.archive.ecs)
    return PrintJobs(office, printer, store, sender, "print"), store, sender, world


async def measure(count: int) -> tuple[float, float, int, int]:
    """Notices/s, peak traced MB, PDF bytes and blocks of one job of ``count`` notices."""
    jobs, store, sender, world = await worker(count)
    job = await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    body = json.dumps({"jobId": job.id}).encode()
    sender.sent.clear()
    tracemalloc.start()
    started = time.perf_counter()
    await jobs.render(body, now=world.now)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    assert store.jobs[job.id].state == "done"
    return count / elapsed, peak, store.bytes, store.blocks


async def run(batch: int) -> None:
    small = batch // 10
    await measure(5)  # warm: fonts registered, modules imported
    rate_small, peak_small, size_small, blocks_small = await measure(small)
    rate_big, peak_big, size_big, blocks_big = await measure(batch)
    print("shared 2-core box: label the run busy or quiet; read the ratios")
    print(
        f"print job worker (in process): {small}: {rate_small:.1f} notices/s, peak "
        f"{peak_small:.2f} MB, PDF {size_small / 1e6:.2f} MB in {blocks_small} blocks; {batch}: "
        f"{rate_big:.1f} notices/s, peak {peak_big:.2f} MB, PDF {size_big / 1e6:.2f} MB in "
        f"{blocks_big} blocks; peak ratio {peak_big / peak_small:.2f} "
        f"(batch ratio {batch / small:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    asyncio.run(run(parser.parse_args().batch))


if __name__ == "__main__":
    main()
