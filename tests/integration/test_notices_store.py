"""The archive's adapters against the emulators (Cosmos, Azurite): point reads, creates and
ETag conditions, the expiry query, bulk progress documents, blob ranges, the round trips of a
write, and the re-key of positions stored under their nav (its query, deletes, claims)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from local.cosmos import stats
from local.platform import Platform
from shared.notices import rules
from shared.notices.blobs import AzureBlobs, BlobMissing
from shared.notices.bulk import Bulks
from shared.notices.identity import iupd, position_id
from shared.notices.service import EcDirectory, NoticeArchive
from shared.notices.store import CosmosBulkStore, CosmosNoticeStore, StaleDocument
from shared.parties.service import PartyRegistry
from shared.parties.store import CosmosPartyStore
from shared.platform.clients import Clients
from tests.fakes.platform import MemorySender
from tests.unit.notices.fakes import EC, NOW, body, iuv, nav, party, position


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    settings = platform.provision(f"notices-{uuid.uuid4().hex[:8]}")
    built = Clients(settings)
    yield built
    await built.close()


@pytest.fixture
def store(clients: Clients) -> CosmosNoticeStore:
    return CosmosNoticeStore(clients.container(clients.settings.notices_container), 5)


@pytest.fixture
async def archive(clients: Clients, store: CosmosNoticeStore) -> NoticeArchive:
    s = clients.settings
    registry = PartyRegistry(CosmosPartyStore(clients.container(s.parties_container), 5))
    await registry.register(party(EC, name="Comune di Demo"), now=NOW)
    return NoticeArchive(store, EcDirectory(registry))


def unique_nav() -> str:
    return "3" + f"{uuid.uuid4().int % 10**17:017d}"


def doc(nav_: str, **extra: object) -> dict[str, object]:
    doc_id = f"{EC}:{nav_}"
    return {
        "id": doc_id,
        "pk": doc_id,
        "kind": "position",
        "nav": nav_,
        "status": "VALID",
        "switchToExpired": False,
        "expiresAt": "2027-01-01T00:00:00.000000Z",
        **extra,
    }


async def test_create_read_and_etag_conditions(store: CosmosNoticeStore) -> None:
    nav_ = unique_nav()
    written = await store.create(doc(nav_))
    with pytest.raises(StaleDocument):
        await store.create(doc(nav_))
    assert (await store.get(f"{EC}:{nav_}"))["status"] == "VALID"  # type: ignore[index]
    replaced = await store.replace(doc(nav_, status="INVALID"), written["_etag"])
    with pytest.raises(StaleDocument):  # the old ETag no longer matches
        await store.replace(doc(nav_, status="VALID"), written["_etag"])
    assert replaced["status"] == "INVALID"
    assert await store.get(f"{EC}:{unique_nav()}") is None


async def test_the_expiry_query_finds_only_what_is_due(store: CosmosNoticeStore) -> None:
    due, later, other = unique_nav(), unique_nav(), unique_nav()
    await store.create(doc(due, switchToExpired=True, expiresAt="2026-12-08T10:00:00.000000Z"))
    await store.create(doc(later, switchToExpired=True, expiresAt="2026-12-08T12:00:00.000000Z"))
    await store.create(doc(other, expiresAt="2026-12-08T10:00:00.000000Z"))
    found = {d["nav"] for d in await store.due_to_expire("2026-12-08T11:00:00.000000Z", 1000)}
    assert due in found
    assert not {later, other} & found


async def test_concurrent_writes_on_the_emulator_lose_no_update(
    archive: NoticeArchive, store: CosmosNoticeStore
) -> None:
    ec = await archive.ecs.get(EC)
    n = uuid.uuid4().int % 10**9
    writes = [
        rules.Write(
            position=position(n, amount=100 + i),
            key=rules.order_key(NOW + timedelta(seconds=i), "s", i),
            by=EC,
            at=NOW,
            source="api",
            company_name=ec.name,
        )
        for i in range(8)
    ]
    await archive.apply(writes[0])
    await asyncio.gather(*(archive.apply(w) for w in reversed(writes[1:])))
    final = await store.get(position_id(EC, iuv(n)))
    assert final is not None
    assert (final["amount"], final["version"]) == (107, writes[-1].key)


async def test_a_new_position_is_one_round_trip(platform: Platform, archive: NoticeArchive) -> None:
    ec = await archive.ecs.get(EC)  # cached from here on
    n = uuid.uuid4().int % 10**9
    write = rules.Write(
        position=position(n),
        key=rules.order_key(NOW, "s"),
        by=EC,
        at=NOW,
        source="api",
        company_name=ec.name,
    )
    stats(platform.cosmos.port, reset=True)
    await archive.apply(write, assume_absent=True)
    assert stats(platform.cosmos.port)["requests"] == 1
    stats(platform.cosmos.port, reset=True)
    await archive.apply(write, assume_absent=True)  # redelivered: create 409, read, done
    assert stats(platform.cosmos.port)["requests"] == 2


async def test_bulk_documents_and_blob_ranges(clients: Clients, archive: NoticeArchive) -> None:
    s = clients.settings
    bulk_store = CosmosBulkStore(clients.container(s.notice_bulks_container), 5)
    blobs = AzureBlobs(clients.blob_service, s.notices_blob_container)
    await blobs.put("t/x.ndjson", b"0123456789")
    assert await blobs.get_range("t/x.ndjson", 3, 4) == b"3456"
    with pytest.raises(BlobMissing):
        await blobs.get_range("t/missing.ndjson", 0, 4)
    sender = MemorySender()
    registry = PartyRegistry(CosmosPartyStore(clients.container(s.parties_container), 5))
    bulks = Bulks(
        archive, bulk_store, blobs, sender, registry, queue="q", chunk_lines=2, concurrency=4
    )
    ec = await registry.get(EC)
    base = uuid.uuid4().int % 10**9
    raw = b"\n".join(json.dumps(body(base + i)).encode() for i in range(5))
    accepted = await bulks.submit(ec, raw, segregation_codes=None, now=NOW, report_url="{bulk_id}")
    for _, message in list(sender.sent) * 2:  # every chunk delivered twice
        await bulks.process_message(message.body, now=NOW)
    report = await bulks.report(accepted.bulk_id, party=ec)
    assert (report.status, report.written, report.chunks_done) == ("COMPLETED", 5, 3)
    assert len(await bulk_store.chunks(accepted.bulk_id)) == 3


async def test_chunk_counts_leave_out_the_iupds_written_unless_asked(clients: Clients) -> None:
    bulk_store = CosmosBulkStore(clients.container(clients.settings.notice_bulks_container), 5)
    bulk_id = uuid.uuid4().hex
    rejected = [{"line": 2, "reason": "amount: too big", "status": 400, "iupd": None}]
    chunk = {
        "id": "chunk-0",
        "pk": bulk_id,
        "kind": "chunk",
        "chunk": 0,
        "lines": 3,
        "written": 2,
        "rejected": rejected,
        "at": "2026-12-07T10:00:00.000000Z",
        "ok": {"201": [f"ACA_{EC}_01", f"ACA_{EC}_02"], "200": []},
    }
    await bulk_store.record_chunk(chunk)
    [counts] = await bulk_store.chunks(bulk_id)
    assert "ok" not in counts
    assert (counts["chunk"], counts["lines"], counts["written"], counts["rejected"]) == (
        0,
        3,
        2,
        rejected,
    )
    [full] = await bulk_store.chunks(bulk_id, iupds=True)
    assert full["ok"] == chunk["ok"]


async def test_positions_stored_under_their_nav_are_rekeyed_on_the_emulator(
    archive: NoticeArchive, store: CosmosNoticeStore
) -> None:
    n = uuid.uuid4().int % 10**9
    key = rules.order_key(NOW, "old")
    content = {
        "paFiscalCode": EC,
        "companyName": "Comune di Demo",
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv(n),
        "amount": 100,
        "description": "TARI",
        "expirationDate": "2027-01-31T23:00:00.000000Z",
        "iban": None,
        "postalIban": None,
        "payStandIn": True,
        "receiptId": None,
        "paidAt": None,
        "updatedAt": "2026-12-07T09:30:00.000000Z",
        "history": [],
        "version": key,
    }
    await store.create(doc(nav(n), **content))
    other = "0" + iuv(n)  # a nav that is not "3" + iuv: claimed
    await store.create(doc(other, **{**content, "iuv": iuv(n + 1)}))
    assert (await archive.get(EC, nav(n), now=NOW)).iuv == iuv(n)  # read before the re-key
    moved = 0
    while True:
        result = await archive.rekey(batch=50)
        moved += result["moved"]
        if not result["remaining"]:
            break
    assert moved >= 2
    assert await store.get(f"{EC}:{nav(n)}") is None
    assert (await store.get(position_id(EC, iuv(n))))["iupd"] == iupd(EC, iuv(n))  # type: ignore[index]
    assert (await archive.get(EC, other, now=NOW)).iuv == iuv(n + 1)  # through its claim
