"""A back-office write's journal entry travels with the position (the archive's outbox): the
route answers the archive's result even while the journal's store is down, and the entry
(who, from where) arrives once the journal's queue delivers the event again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.root import use_root
from shared.backoffice.principal import PRINCIPAL_HEADER, encode_principal
from shared.backoffice.service import BackOffice
from shared.journal.service import Journal
from shared.notices.events import ArchiveEvents
from shared.notices.service import EcDirectory, NoticeArchive
from shared.parties.users import BackOfficeUsers, UserIn
from shared.platform.clock import SystemClock, use_clock
from shared.platform.errors import DependencyError
from shared.platform.outbox import Event, pending
from tests.app import app
from tests.fakes.journal import DownJournalStore
from tests.fakes.notices import MemoryPositionSearch
from tests.fakes.platform import HandedEvents
from tests.functions.fakes import NOW, FakeRoot, request, trigger
from tests.unit.notices.fakes import EC, World, body

EDITOR = "0b0e0000-0000-4000-8000-0000000000a1"
JOURNAL = "journal-queue"
POSITIONS = f"bo/v1/ecs/{EC}/positions"
CLIENT = "203.0.113.7"


class WritesRoot(FakeRoot):
    world: World

    @cached_property
    def journal_store(self) -> DownJournalStore:
        return DownJournalStore()

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.journal_store, retention_days=30)

    @cached_property
    def capture(self) -> HandedEvents:
        return HandedEvents()

    def backoffice(self) -> BackOffice:
        w = self.world
        events = ArchiveEvents((JOURNAL,), self.capture, notes_queue=JOURNAL)
        archive = NoticeArchive(w.store, EcDirectory(w.registry, ttl=0), events=events)
        users = BackOfficeUsers(w.party_store)
        return BackOffice(users, archive, MemoryPositionSearch(w.store))


@pytest.fixture
async def root() -> AsyncIterator[WritesRoot]:
    fake = WritesRoot()
    fake.world = await World().seed()
    users = BackOfficeUsers(fake.world.party_store)
    await users.put(EDITOR, UserIn(name="Elena", ecs={EC: "editor"}), now=NOW)
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


async def call(name: str, method: str, path: str, payload: Any = None, **route: str) -> Any:
    headers = {
        PRINCIPAL_HEADER: encode_principal(EDITOR, "Elena"),
        "X-Forwarded-For": f"{CLIENT}:51234",
        "Content-Type": "application/json",
    }
    raw = json.dumps(payload).encode() if payload is not None else b""
    return await trigger(app, name)(
        request(method, path, body=raw, headers=headers, route_params={"ec": EC, **route})
    )


async def deliver(event: Event) -> None:
    message = event.outgoing()
    await trigger(app, "journal_notice_events")(
        ServiceBusMessage(
            body=message.body,
            message_id=message.message_id,
            delivery_count=1,
            application_properties={},
            user_properties={},
        )
    )


async def test_a_write_answers_the_archive_while_the_journal_is_down_and_its_entry_arrives(
    root: WritesRoot,
) -> None:
    root.journal_store.down = True
    position = {**body(1), "expirationDate": "2030-01-31T23:59:59+01:00"}
    created = await call("bo_create_position", "POST", POSITIONS, position)
    assert created.status_code == 201, created.get_body()
    nav = json.loads(created.get_body())["nav"]
    root.clock.advance(60)  # type: ignore[attr-defined]
    edited = await call(
        "bo_edit_position", "PUT", f"{POSITIONS}/{nav}", {**position, "amount": 9_900}, nav=nav
    )
    assert edited.status_code == 200, edited.get_body()
    assert json.loads(edited.get_body())["amount"] == 9_900
    assert root.journal_store.documents == {}

    notes = [e for e in root.capture.events if e.type == "NoticeWriteNoted"]
    assert len(notes) == 2
    # the notes wait in the position's outbox too: the sweep sends them if no flush did
    stored = root.world.stored_iuv(EC, position["iuv"])
    assert stored is not None
    assert {e.id for e in notes} <= {e.id for e in pending(stored)}

    with pytest.raises(DependencyError):  # the consumer's first delivery: redelivered
        await deliver(notes[0])
    root.journal_store.down = False
    for event in root.capture.events:
        await deliver(event)

    order = {e.id: n for n, e in enumerate(root.capture.events)}  # a write's two: one instant
    entries = sorted(root.journal_store.documents.values(), key=lambda d: order[d["id"]])
    writes = [d for d in entries if d["kind"] == "write"]
    assert [w["summary"] for w in writes] == ["Creazione posizione", "Modifica posizione"]
    assert {(w["object"], w["who"]["objectId"], w["from"]) for w in writes} == {
        (nav, EDITOR, CLIENT)
    }
    assert writes[1]["fields"]["amount"] == 9_900
    assert [d["kind"] for d in entries if d["kind"] != "write"] == [
        "position.created",
        "position.updated",
    ]


async def test_a_write_that_changes_nothing_is_still_noted(root: WritesRoot) -> None:
    position = {**body(1), "expirationDate": "2030-01-31T23:59:59+01:00"}
    created = await call("bo_create_position", "POST", POSITIONS, position)
    nav = json.loads(created.get_body())["nav"]
    root.clock.advance(60)  # type: ignore[attr-defined]
    again = await call("bo_edit_position", "PUT", f"{POSITIONS}/{nav}", position, nav=nav)
    assert again.status_code == 200
    types = [e.type for e in root.capture.events]
    assert types == ["NoticeCreated", "NoticeWriteNoted", "NoticeWriteNoted"]
