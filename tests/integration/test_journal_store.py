"""The journal's store against the Cosmos emulator, and its in-memory fake held to the same
behaviour: a create that finds the id writes nothing, searches page newest first across month
partitions, filter by kind and object, and keep to one EC."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from local.platform import Platform
from shared.journal.service import Journal, JournalFilter, JournalStore
from shared.journal.store import CosmosJournalStore
from shared.platform.clients import Clients
from tests.fakes.journal import MemoryJournalStore

T0 = datetime(2026, 11, 28, 12, tzinfo=UTC)


def event(
    event_id: str, ec: str, at: datetime, type_: str = "NoticeCreated", **data: object
) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": type_,
            "createdAt": at.isoformat(),
            "data": {
                "ecFiscalCode": ec,
                "noticeCode": "302000000000000001",
                "iuv": "02000000000000001",
                "debtorFiscalCode": "RSSMRA80A01H501U",
                "description": "TARI 2026",
                "amount": 12_000,
                "dueDate": "2026-12-31T00:00:00",
                "status": "VALID",
                "seq": 1,
                **data,
            },
        }
    ).encode()


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    built = Clients(platform.provision(f"journal-{uuid.uuid4().hex[:8]}"))
    yield built
    await built.close()


@pytest.fixture(params=["cosmos", "fake"])
def store(request: pytest.FixtureRequest, clients: Clients) -> JournalStore:
    if request.param == "fake":
        return MemoryJournalStore()
    return CosmosJournalStore(clients.container(clients.settings.journal_container), 5)


def an_ec() -> str:
    return f"{uuid.uuid4().int % 10**11:011d}"


async def test_a_second_create_of_an_id_writes_nothing(store: JournalStore) -> None:
    journal = Journal(store, retention_days=7)
    ec = an_ec()
    await journal.take_event(event("e-1", ec, T0))
    await journal.take_event(event("e-1", ec, T0, amount=1))
    where = JournalFilter(since=date(2026, 11, 1), until=date(2026, 11, 30))
    (entry,) = (await journal.search(ec, where, cursor=None, limit=10)).items
    assert entry.fields["amount"] == 12_000


async def test_pages_cross_months_newest_first_and_filter(store: JournalStore) -> None:
    journal = Journal(store, retention_days=7)
    ec, other = an_ec(), an_ec()
    for i in range(8):  # 28 November to 5 December
        at = T0 + timedelta(days=i)
        paid = i % 2 == 1
        await journal.take_event(
            event(
                f"{ec}-{i}",
                ec,
                at,
                "NoticePaid" if paid else "NoticeUpdated",
                status="PAID" if paid else "VALID",
            )
        )
        await journal.take_event(event(f"{other}-{i}", other, at))
    where = JournalFilter(since=date(2026, 11, 29), until=date(2026, 12, 4))
    seen: list[str] = []
    cursor = None
    while True:
        page = await journal.search(ec, where, cursor=cursor, limit=2)
        seen += [e.id for e in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"{ec}-{i}" for i in range(6, 0, -1)]
    paid = await journal.search(
        ec, JournalFilter(where.since, where.until, kind="position.paid"), cursor=None, limit=10
    )
    assert [e.id for e in paid.items] == [f"{ec}-5", f"{ec}-3", f"{ec}-1"]
