"""Paper notice batches through the back office's print route, in process: notices/s and peak
memory of a 1,000-notice batch beside a 100-notice one (ratio near 1 would mean bounded).

The route's handler calls ``NoticePrinter.batch`` (read the search's positions, render in a
thread into a spooled file, return the PDF's bytes as the Functions response body); this bench
calls that service on in-memory ports (the archive's own search and registry fakes, no emulator)
so the figures are the worker's, not the dev host's or the network's. Peak memory: tracemalloc
over the whole call (the positions read, the rendering, the returned body). The EC has a postal
account, so every page carries the QR code and the data matrix.

    python -m bench.backoffice_print [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc

from shared.backoffice.printing import NoticePrinter
from shared.backoffice.service import BackOffice
from shared.notices.search import PositionFilter
from shared.parties.models import PartyIn
from shared.parties.users import BackOfficeUsers, UserIn
from tests.fakes.notices import MemoryPositionSearch
from tests.unit.backoffice.test_backoffice import VIEWER
from tests.unit.notices.fakes import EC, IBAN, World, position


async def printer(count: int) -> tuple[NoticePrinter, World]:
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
    return NoticePrinter(office, world.archive.ecs), world


async def measure(count: int) -> tuple[float, float, int]:
    """Notices/s, peak traced MB, PDF bytes of one batch of ``count``."""
    print_, world = await printer(count)
    tracemalloc.start()
    started = time.perf_counter()
    pdf = await print_.batch(VIEWER, EC, PositionFilter(), now=world.now)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return count / elapsed, peak, len(pdf)


async def run(batch: int) -> None:
    small = batch // 10
    await measure(5)  # warm: fonts registered, modules imported
    rate_small, peak_small, size_small = await measure(small)
    rate_big, peak_big, size_big = await measure(batch)
    print("busy machine: shared 2-core box, other work running; read the ratios")
    print(
        f"print route (service, in process): {small}: {rate_small:.1f} notices/s, peak "
        f"{peak_small:.1f} MB, PDF {size_small / 1e6:.2f} MB; {batch}: {rate_big:.1f} notices/s, "
        f"peak {peak_big:.1f} MB, PDF {size_big / 1e6:.2f} MB; peak ratio "
        f"{peak_big / peak_small:.2f} (batch ratio {batch / small:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    asyncio.run(run(parser.parse_args().batch))


if __name__ == "__main__":
    main()
