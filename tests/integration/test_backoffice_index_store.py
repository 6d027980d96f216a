"""The back office's positions index against the Cosmos emulator: the rebuild writes the EC's
partition, a search page is ONE single-partition query with the archive's filters and key
paging, an event brings an entry up to the archive's write, another EC's partition stays
apart."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from local.cosmos import stats
from local.platform import Platform
from shared.notices.ec_index_service import PositionsIndex
from shared.notices.ec_index_store import CosmosEcIndex
from shared.notices.search import CosmosPositionSearch, PositionFilter
from shared.notices.service import EcDirectory, NoticeArchive
from shared.notices.store import CosmosNoticeStore
from shared.parties.service import PartyRegistry
from shared.parties.store import CosmosPartyStore
from shared.platform.clients import Clients
from tests.unit.notices.fakes import EC, NOW, OTHER_EC, iuv, party, position


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    built = Clients(platform.provision(f"boidx-{uuid.uuid4().hex[:8]}"))
    yield built
    await built.close()


async def parts(clients: Clients) -> tuple[NoticeArchive, CosmosEcIndex, PositionsIndex]:
    s = clients.settings
    registry = PartyRegistry(CosmosPartyStore(clients.container(s.parties_container), 5))
    await registry.register(party(EC, name="Comune di Demo"), now=NOW)
    await registry.register(party(OTHER_EC, name="Comune di Altrove"), now=NOW)
    container = clients.container(s.notices_container)
    archive = NoticeArchive(CosmosNoticeStore(container, 5), EcDirectory(registry))
    store = CosmosEcIndex(container, 5)
    return archive, store, PositionsIndex(store, archive, CosmosPositionSearch(container, 5))


async def test_a_page_is_one_query_in_the_ecs_partition(
    platform: Platform, clients: Clients
) -> None:
    archive, store, index = await parts(clients)
    ec, other = await archive.ecs.get(EC), await archive.ecs.get(OTHER_EC)
    for n in range(1, 6):
        debtor = "RSSMRA85T10A562S" if n % 2 else "VRDGPP80A01H501K"
        await archive.publish(
            ec, position(n, entityFiscalCode=debtor), segregation_codes=None, now=NOW
        )
    await archive.publish(
        other,
        position(1, paFiscalCode=OTHER_EC, iban="IT60X0542811101000000123456"),
        segregation_codes=None,
        now=NOW,
    )
    report = await index.rebuild(EC)
    assert (report.read, report.written) == (5, 5)

    seen: list[str] = []
    after = None
    while True:
        stats(platform.cosmos.port, reset=True)
        page = await store.search(EC, PositionFilter(), after=after, limit=2)
        assert stats(platform.cosmos.port)["requests"] == 1
        seen += [d["iuv"] for d in page.documents]
        after = page.next_after
        if after is None:
            break
    assert sorted(seen) == [iuv(n) for n in range(1, 6)]
    odd = await store.search(EC, PositionFilter(debtor="RSSMRA85T10A562S"), after=None, limit=10)
    assert sorted(d["iuv"] for d in odd.documents) == [iuv(1), iuv(3), iuv(5)]
    assert (await store.search(OTHER_EC, PositionFilter(), after=None, limit=10)).documents == []

    # without events (none configured here) the order is the write's time
    later = NOW + timedelta(seconds=1)
    await archive.publish(ec, position(2, amount=0), segregation_codes=None, now=later)
    event = {"id": "e", "data": {"ecFiscalCode": EC, "iuv": iuv(2), "seq": 2}}
    entry = await index.take(json.dumps(event).encode())
    assert entry is not None
    assert entry["status"] == "INVALID"
    invalid = await store.search(EC, PositionFilter(status="INVALID"), after=None, limit=10)
    assert [d["iuv"] for d in invalid.documents] == [iuv(2)]
