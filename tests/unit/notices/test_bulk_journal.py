"""An upload in its EC's journal: started from the bulk's outbox, finished by the chunk that
completes it, each once, and a crash before the finish's send ends in the send; an upload
through the ACA contract (no signed-in user) is recorded with the calling party as who, in the
journal of each EC whose positions it holds and the party acts for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.journal.service import Journal
from shared.notices.bulk import Bulks, Outcome
from shared.notices.bulk_journal import UploadNote, counts_by_ec
from shared.notices.bulk_models import BulkAccepted, UploadActor, UploadJournal
from shared.platform.errors import DependencyError
from shared.platform.messaging import Outgoing
from tests.fakes.journal import MemoryJournalStore
from tests.fakes.platform import HandedEvents
from tests.unit.notices.fakes import BROKER, EC, OTHER_EC, QUEUE, UNREGISTERED_EC, World, body
from tests.unit.notices.test_upload import CONTENT_TYPE, gpd, multipart, zipped

ALL_EC = UNREGISTERED_EC  # ALLCODES acts for it, though it is not in the registry

JOURNAL = "journal"


@pytest.fixture
async def world() -> tuple[World, HandedEvents]:
    w = await World().seed()
    published = HandedEvents()
    w.bulks = Bulks(
        w.archive,
        w.bulk_store,
        w.blobs,
        w.sender,
        w.registry,
        queue=QUEUE,
        chunk_lines=2,
        concurrency=2,
        journal=(JOURNAL, published),
    )
    return w, published


NOTE = UploadNote(
    ec=EC,
    actor=UploadActor(object_id="user-1", name="Maria Rossi", from_="203.0.113.7"),
    file_name="tari 2026.csv",
)


def lines(good: int, bad: int) -> bytes:
    items: list[Any] = [body(n) for n in range(1, good + 1)] + [{"iuv": "x"}] * bad
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


async def submit(w: World, raw: bytes, note: UploadNote | None = NOTE) -> BulkAccepted:
    return await w.bulks.submit(
        w.parties[EC],
        raw,
        segregation_codes=None,
        now=w.later(),
        report_url="/api/bo/v1/ecs/x/uploads/{bulk_id}",
        note=note,
    )


async def deliver_chunks(w: World) -> list[Outgoing]:
    """Process every chunk message; return what went to the journal's queue meanwhile."""
    told: list[Outgoing] = []
    while w.sender.sent:
        queue, message = w.sender.sent.pop(0)
        if queue == JOURNAL:
            told.append(message)
        else:
            await w.bulks.process_message(message.body, now=w.later())
    return told


async def test_an_upload_is_told_started_in_the_bulks_outbox_and_finished_once(
    world: tuple[World, HandedEvents],
) -> None:
    w, published = world
    accepted = await submit(w, lines(good=4, bad=1))
    (started,) = published.events
    assert (started.type, started.queue, started.id) == (
        "UploadStarted",
        JOURNAL,
        f"upload-started-{accepted.bulk_id}",
    )
    assert started.data["by"] == {
        "objectId": "user-1",
        "name": "Maria Rossi",
        "from": "203.0.113.7",
    }
    assert (started.data["lines"], started.data["chunks"], started.data["fileName"]) == (
        5,
        3,
        "tari 2026.csv",
    )
    stored = await w.bulk_store.get_bulk(accepted.bulk_id)
    assert stored is not None
    assert [e["id"] for e in stored["outbox"]] == [started.id]  # the sweep's copy

    told = await deliver_chunks(w)
    (finished,) = told  # the last chunk only
    sent = json.loads(finished.body)
    assert finished.message_id == sent["id"] == f"upload-finished-{accepted.bulk_id}"
    assert sent["type"] == "UploadFinished"
    assert (sent["data"]["written"], sent["data"]["rejected"], sent["data"]["lines"]) == (4, 1, 5)

    journal = Journal(MemoryJournalStore(), retention_days=30)
    (first,) = await journal.take_event(started.outgoing().body)
    (last,) = await journal.take_event(finished.body)
    assert (first.kind, first.object, first.who and first.who.object_id, first.from_) == (
        "upload.started",
        accepted.bulk_id,
        "user-1",
        "203.0.113.7",
    )
    assert (last.kind, last.fields["written"], last.fields["rejected"]) == ("upload.finished", 4, 1)


async def test_a_crash_before_the_finish_is_sent_ends_in_the_send_at_redelivery(
    world: tuple[World, HandedEvents],
) -> None:
    w, _ = world
    await submit(w, lines(good=2, bad=0))  # one chunk
    ((_, chunk),) = w.sender.sent
    w.sender.sent.clear()
    w.sender.fail_with = DependencyError("servicebus", "down")
    with pytest.raises(DependencyError):  # the chunk's result is recorded; the send fails
        await w.bulks.process_message(chunk.body, now=w.later())
    assert await w.bulk_store.chunks(json.loads(chunk.body)["bulkId"])
    assert w.sender.sent == []
    w.sender.fail_with = None
    await w.bulks.process_message(chunk.body, now=w.later())  # the redelivery
    ((queue, message),) = w.sender.sent
    assert queue == JOURNAL
    assert json.loads(message.body)["data"]["written"] == 2


async def test_an_ecs_own_aca_upload_is_in_its_journal_with_the_ec_as_who(
    world: tuple[World, HandedEvents],
) -> None:
    w, published = world
    accepted = await w.bulks.submit(
        w.parties[EC],
        lines(good=3, bad=0),
        segregation_codes=None,
        now=w.later(),
        report_url="/api/aca/v1/bulk/{bulk_id}",
        from_="198.51.100.4",
    )
    (started,) = published.events
    assert started.data["by"] == {"objectId": EC, "name": "Comune di Demo", "from": "198.51.100.4"}
    (finished,) = await deliver_chunks(w)
    store = MemoryJournalStore()
    journal = Journal(store, retention_days=30)
    entries = [
        *await journal.take_event(started.outgoing().body),
        *await journal.take_event(finished.body),
    ]
    assert [(e.ec, e.kind, e.object) for e in entries] == [
        (EC, "upload.started", accepted.bulk_id),
        (EC, "upload.finished", accepted.bulk_id),
    ]
    assert entries[1].fields["written"] == 3


async def test_an_intermediarys_upload_is_in_each_journal_of_the_ecs_it_acts_for(
    world: tuple[World, HandedEvents],
) -> None:
    w, published = world
    items = [body(1), body(2, paFiscalCode=OTHER_EC), body(3, paFiscalCode=ALL_EC)]
    raw = b"".join(json.dumps(i).encode() + b"\n" for i in items)
    accepted = await w.bulks.submit(
        w.parties["ALLCODES"], raw, segregation_codes=None, now=w.later(), report_url="/{bulk_id}"
    )
    (started,) = published.events
    # ALLCODES acts for EC and ALL_EC, not for OTHER_EC: that line is refused, its EC not told
    assert (started.data["ecFiscalCode"], started.data["otherEcs"]) == (EC, [ALL_EC])
    (finished,) = await deliver_chunks(w)
    store = MemoryJournalStore()
    journal = Journal(store, retention_days=30)
    await journal.take_event(started.outgoing().body)
    await journal.take_event(finished.body)
    await journal.take_event(finished.body)  # redelivered: nothing new
    written = sorted((d["ec"], d["kind"], d["object"]) for d in store.documents.values())
    assert written == sorted(
        (ec, kind, accepted.bulk_id)
        for ec in (EC, ALL_EC)
        for kind in ("upload.started", "upload.finished")
    )
    assert {d["who"]["objectId"] for d in store.documents.values() if d["who"]} == {"ALLCODES"}


async def test_each_ec_of_an_intermediarys_upload_is_told_its_own_counts(
    world: tuple[World, HandedEvents],
) -> None:
    w, _ = world
    items = [body(1), body(4), body(2, paFiscalCode=OTHER_EC), body(3, paFiscalCode=ALL_EC)]
    lines = [json.dumps(i).encode() for i in items] + [b'{"not": "a position"']
    accepted = await w.bulks.submit(
        w.parties["ALLCODES"],
        b"\n".join(lines) + b"\n",
        segregation_codes=None,
        now=w.later(),
        report_url="/{bulk_id}",
    )
    (finished,) = await deliver_chunks(w)
    store = MemoryJournalStore()
    await Journal(store, retention_days=30).take_event(finished.body)
    told = {
        d["ec"]: d["fields"]
        for d in store.documents.values()
        if d["kind"] == "upload.finished" and d["object"] == accepted.bulk_id
    }
    # EC: two lines written; ALL_EC: its line refused (not in the registry); OTHER_EC's line
    # (the party may not act for it) and the unreadable line are in the upload's counts only
    assert {ec: (f["written"], f["rejected"]) for ec, f in told.items()} == {
        EC: (2, 0),
        ALL_EC: (0, 1),
    }
    assert {(f["uploadWritten"], f["uploadRejected"], f["lines"]) for f in told.values()} == {
        (2, 3, 5)
    }


async def test_an_upload_naming_no_ec_of_the_party_tells_no_journal(
    world: tuple[World, HandedEvents],
) -> None:
    w, published = world
    raw = json.dumps(body(1, paFiscalCode=OTHER_EC)).encode() + b"\n"
    await w.bulks.submit(
        w.parties[BROKER], raw, segregation_codes=None, now=w.later(), report_url="/{bulk_id}"
    )
    assert published.events == []
    assert await deliver_chunks(w) == []


async def test_an_uploaded_file_is_in_the_organizations_journal_with_the_broker_as_who(
    world: tuple[World, HandedEvents],
) -> None:
    w, published = world
    content = json.dumps({"paymentPositions": [gpd(1), gpd(2)]}).encode()
    file_id = await w.bulks.submit_file(
        w.parties[BROKER],
        broker=BROKER,
        organization=EC,
        operation="upsert",
        content_type=CONTENT_TYPE,
        body=multipart(zipped(content), filename="rate.zip"),
        now=w.later(),
        from_="198.51.100.4",
    )
    (started,) = published.events
    assert (started.data["ecFiscalCode"], started.data["bulkId"]) == (EC, file_id)
    assert started.data["by"]["objectId"] == BROKER
    assert started.data["fileName"] == "rate.zip"
    (finished,) = await deliver_chunks(w)
    assert (json.loads(finished.body)["data"]["written"], finished.message_id) == (
        2,
        f"upload-finished-{file_id}",
    )


def test_a_one_ec_uploads_chunk_has_the_shape_the_earlier_consumer_took() -> None:
    """A chunk message of a one-EC upload carries no ``others``: a consumer still on the code
    before intermediaries were journaled (extra fields forbidden) takes it during a deployment;
    an intermediary's several ECs are carried."""
    one = UploadJournal(ec=EC, file_name="a.csv", lines=3, chunks=1)
    dumped = one.model_dump(mode="json", by_alias=True)
    assert set(dumped) == {"ec", "fileName", "lines", "chunks"}
    assert UploadJournal.model_validate(dumped) == one
    several = UploadJournal(ec=EC, others=[OTHER_EC], file_name=None, lines=3, chunks=1)
    assert several.model_dump(mode="json", by_alias=True)["others"] == [OTHER_EC]
    assert UploadJournal.model_validate(several.model_dump(mode="json", by_alias=True)) == several


def test_a_chunk_counts_only_the_lines_of_the_ecs_its_upload_tells() -> None:
    """A chunk's result keeps counts for the upload's journaled ECs alone: a line naming an EC
    the party may not act for (refused) or no EC (unreadable) is in no EC's counts."""
    journal = UploadJournal(ec=EC, others=[ALL_EC], file_name=None, lines=5, chunks=1)
    lines = [
        Outcome(201, None, None, EC),
        Outcome(400, "no", None, EC),
        Outcome(201, None, None, ALL_EC),
        Outcome(403, "not yours", None, OTHER_EC),
        Outcome(400, "not JSON"),
    ]
    assert counts_by_ec(journal, lines) == {
        EC: {"written": 1, "rejected": 1},
        ALL_EC: {"written": 1, "rejected": 0},
    }
