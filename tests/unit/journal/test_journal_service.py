"""The journal: one entry per event id, searched by EC, month partitions, kind and object."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared.journal.models import Who
from shared.journal.service import Journal, JournalFilter, decode_cursor, partition
from shared.journal.signin import sign_in_events
from shared.platform.errors import Invalid, PermanentError
from tests.fakes.journal import MemoryJournalStore

EC = "77777777777"
NAV = "302000000000000001"
T0 = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 00:30 on 1 December in Rome


def notice_event(
    event_id: str, type_: str = "NoticeCreated", *, at: datetime = T0, **data: Any
) -> bytes:
    body = {
        "id": event_id,
        "type": type_,
        "createdAt": at.isoformat(),
        "data": {
            "ecFiscalCode": EC,
            "noticeCode": NAV,
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
    return json.dumps(body).encode()


def journal(days: int = 3650) -> tuple[Journal, MemoryJournalStore]:
    store = MemoryJournalStore()
    return Journal(store, retention_days=days), store


DEC = JournalFilter(since=date(2026, 12, 1), until=date(2026, 12, 31))


async def test_an_archive_event_becomes_one_entry_with_its_id_and_fields() -> None:
    j, store = journal(days=10)
    (entry,) = await j.take_event(notice_event("e-1", "NoticeUpdated", amount=15_000))
    assert (entry.id, entry.ec, entry.kind, entry.object) == ("e-1", EC, "position.updated", NAV)
    assert entry.fields["amount"] == 15_000
    assert entry.summary == "Posizione modificata"
    (document,) = store.documents.values()
    # the month is the UTC one: 23:30 UTC on 30 November is in November's partition
    assert document["pk"] == f"journal:{EC}:2026-11"
    assert document["ttl"] == 10 * 86_400


async def test_a_redelivered_event_writes_nothing_new() -> None:
    j, store = journal()
    await j.take_event(notice_event("e-1"))
    await j.take_event(notice_event("e-1", amount=1))
    (document,) = store.documents.values()
    assert document["fields"]["amount"] == 12_000


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        notice_event("e-1", "SomethingElse"),
        notice_event("e-1", ecFiscalCode="x"),
        notice_event("e 1"),
        notice_event("e-1", at=T0).replace(T0.isoformat().encode(), b"3000000000007"),
        notice_event("e-1", seq="1"),
        json.dumps(
            {"id": "e", "type": "NoticeCreated", "createdAt": "2026-01-01T00:00:00"}
        ).encode(),
    ],
)
async def test_what_is_not_an_archive_event_is_permanent_and_writes_nothing(body: bytes) -> None:
    j, store = journal()
    with pytest.raises(PermanentError):
        await j.take_event(body)
    assert store.documents == {}


async def test_search_pages_newest_first_across_month_partitions() -> None:
    j, _ = journal()
    start = datetime(2026, 11, 25, 12, tzinfo=UTC)
    for i in range(12):  # every day from 25 November to 6 December
        await j.take_event(notice_event(f"e-{i:02}", at=start + timedelta(days=i)))
    where = JournalFilter(since=date(2026, 11, 26), until=date(2026, 12, 5))
    seen: list[str] = []
    cursor = None
    while True:
        page = await j.search(EC, where, cursor=cursor, limit=3)
        seen += [e.id for e in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"e-{i:02}" for i in range(10, 0, -1)]


async def test_search_filters_by_kind_and_object_and_keeps_to_its_ec() -> None:
    j, _ = journal()
    await j.take_event(notice_event("e-1"))
    await j.take_event(notice_event("e-2", "NoticePaid", status="PAID", seq=2))
    await j.take_event(notice_event("e-3", noticeCode="302000000000000002"))
    await j.take_event(notice_event("e-4", ecFiscalCode="88888888888"))
    paid = await j.search(
        EC, JournalFilter(DEC.since, DEC.until, kind="position.paid"), cursor=None, limit=10
    )
    assert [e.id for e in paid.items] == ["e-2"]
    one = await j.search(
        EC, JournalFilter(DEC.since, DEC.until, object_=NAV), cursor=None, limit=10
    )
    assert sorted(e.id for e in one.items) == ["e-1", "e-2"]
    everything = await j.search(EC, DEC, cursor=None, limit=10)
    assert sorted(e.id for e in everything.items) == ["e-1", "e-2", "e-3"]


async def test_a_sign_in_is_recorded_once_per_session_in_each_ec() -> None:
    j, store = journal()
    who = Who(object_id="00000000-0000-0000-0000-000000000001", name="Demo Editor")
    for _ in range(3):  # the page loaded three times in one session
        for told in sign_in_events(
            [EC, "88888888888"], who, session="principal-A", from_="203.0.113.7", queue="q", now=T0
        ):
            await j.take_event(told.outgoing().body)
    later = T0 + timedelta(hours=1)
    for told in sign_in_events([EC], who, session="principal-B", from_=None, queue="q", now=later):
        await j.take_event(told.outgoing().body)
    page = await j.search(EC, DEC, cursor=None, limit=10)
    assert [e.kind for e in page.items] == ["signin", "signin"]
    assert page.items[1].who == who
    assert page.items[1].from_ == "203.0.113.7"
    assert len(store.documents) == 3


async def test_a_noted_write_names_who_and_from_where() -> None:
    j, _ = journal()
    who = Who(object_id="00000000-0000-0000-0000-000000000001", name="Demo Editor")
    by = {"objectId": who.object_id, "name": who.name, "from": "2001:db8::1"}
    data = {"ecFiscalCode": EC, "noticeCode": NAV, "by": by, "action": "Modifica posizione"}
    body = {"id": "w-1", "type": "NoticeWriteNoted", "createdAt": T0.isoformat(), "data": data}
    await j.take_event(json.dumps({**body, "data": {**data, "fields": {"amount": 1}}}).encode())
    (entry,) = (await j.search(EC, DEC, cursor=None, limit=10)).items
    assert (entry.kind, entry.object, entry.who, entry.from_) == ("write", NAV, who, "2001:db8::1")
    assert (entry.summary, entry.fields) == ("Modifica posizione", {"amount": 1})


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        ("UploadStarted", {"ecFiscalCode": EC, "bulkId": "a" * 32, "lines": 1, "chunks": 1}),
        ("UploadFinished", {"ecFiscalCode": EC, "bulkId": "x", "lines": 1, "written": 1}),
        ("StationStandInEntered", {"ecFiscalCode": EC, "stationId": "S 1", "at": "now"}),
        ("NoticeWriteNoted", {"ecFiscalCode": EC, "noticeCode": NAV, "action": "x"}),
    ],
)
async def test_a_message_without_what_its_type_needs_is_permanent(
    type_: str, data: dict[str, Any]
) -> None:
    j, store = journal()
    body = {"id": "m-1", "type": type_, "createdAt": T0.isoformat(), "data": data}
    with pytest.raises(PermanentError):
        await j.take_event(json.dumps(body).encode())
    assert store.documents == {}


async def test_export_walks_every_page() -> None:
    j, _ = journal()
    for i in range(205):
        await j.take_event(notice_event(f"e-{i:03}", at=T0 + timedelta(minutes=i)))
    ids = [e.id async for e in j.every(EC, DEC)]
    assert len(ids) == 205
    assert len(set(ids)) == 205
    assert ids[0] == "e-204"


@pytest.mark.parametrize(
    "where",
    [
        JournalFilter(since=date(2026, 12, 2), until=date(2026, 12, 1)),
        JournalFilter(since=date(2024, 1, 1), until=date(2026, 12, 1)),
    ],
)
async def test_a_reversed_or_too_long_range_is_refused(where: JournalFilter) -> None:
    j, _ = journal()
    with pytest.raises(Invalid):
        await j.search(EC, where, cursor=None, limit=10)


def test_a_forged_cursor_is_refused() -> None:
    with pytest.raises(Invalid):
        decode_cursor("bm90LWEta2V5")  # "not-a-key"


def test_partitions_are_per_ec_and_utc_month() -> None:
    assert partition(EC, T0) == f"journal:{EC}:2026-11"
    assert partition(EC, T0 + timedelta(hours=2)) == f"journal:{EC}:2026-12"
