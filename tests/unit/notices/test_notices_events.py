"""Every archive write that changes what a citizen sees puts its events in the written
document's outbox (one per destination queue), numbered by the position's ``seq``."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import timedelta
from typing import Any

import pytest

from shared.notices.events import ArchiveEvents
from shared.notices.rules import Document
from shared.notices.service import EcDirectory, NoticeArchive
from shared.platform.outbox import Event, pending
from tests.unit.notices.fakes import EC, NOW, World, body, nav, position

QUEUES = ("payments-notices", "journal")


class Capture:
    """The publisher: what the archive handed it, in order."""

    def __init__(self) -> None:
        self.handed: list[tuple[Document, list[Event]]] = []

    def publish_soon(self, document: Document, *, only: Collection[Event] | None = None) -> None:
        self.handed.append((document, list(only or [])))

    def events(self, queue: str = QUEUES[0]) -> list[Event]:
        return [e for _, events in self.handed for e in events if e.queue == queue]


@pytest.fixture
async def world() -> tuple[World, NoticeArchive, Capture]:
    w = await World().seed()
    capture = Capture()
    archive = NoticeArchive(
        w.store, EcDirectory(w.registry, ttl=0), events=ArchiveEvents(QUEUES, capture)
    )
    return w, archive, capture


async def publish(w: World, archive: NoticeArchive, **overrides: Any) -> None:
    await archive.publish(
        w.parties[EC], position(1, **overrides), segregation_codes=None, now=w.later()
    )


async def test_a_new_position_is_one_created_event_per_queue_in_its_outbox(world: Any) -> None:
    w, archive, capture = world
    await publish(w, archive)
    stored = w.stored(EC, nav(1))
    assert stored is not None
    assert stored["seq"] == 1
    assert sorted(e.queue for e in pending(stored)) == sorted(QUEUES)
    (event,) = capture.events()
    assert event.type == "NoticeCreated"
    assert event.data["seq"] == 1
    assert event.data["debtorFiscalCode"] == "RSSMRA85T10A562S"
    assert event.data["noticeCode"] == nav(1)
    assert event.data["ecName"] == "Comune di Demo"
    assert event.data["amount"] == 12_050
    assert event.data["status"] == "VALID"
    assert event.data["iupd"] == f"ACA_{EC}_{body(1)['iuv']}"
    assert len({e.id for e in pending(stored)}) == len(QUEUES)  # distinct ids per queue


async def test_the_same_content_again_publishes_nothing(world: Any) -> None:
    w, archive, capture = world
    await publish(w, archive)
    await publish(w, archive)
    assert [e.type for e in capture.events()] == ["NoticeCreated"]
    stored = w.stored(EC, nav(1))
    assert stored is not None
    assert stored["seq"] == 1


async def test_update_invalidate_each_publish_the_next_seq(world: Any) -> None:
    w, archive, capture = world
    await publish(w, archive)
    await publish(w, archive, amount=9_900)
    await publish(w, archive, amount=0)
    events = capture.events()
    assert [(e.type, e.data["seq"], e.data["status"]) for e in events] == [
        ("NoticeCreated", 1, "VALID"),
        ("NoticeUpdated", 2, "VALID"),
        ("NoticeInvalidated", 3, "INVALID"),
    ]
    assert events[1].data["amount"] == 9_900


async def test_a_payment_publishes_paid(world: Any) -> None:
    w, archive, capture = world
    await publish(w, archive)
    await archive.mark_paid(
        EC, nav(1), receipt_id="r-1", paid_at=NOW, by="PSP", stand_in=False, now=w.later()
    )
    await archive.mark_paid(  # the same receipt again: nothing changes, nothing is published
        EC, nav(1), receipt_id="r-1", paid_at=NOW, by="PSP", stand_in=False, now=w.later()
    )
    assert [(e.type, e.data["seq"]) for e in capture.events()] == [
        ("NoticeCreated", 1),
        ("NoticePaid", 2),
    ]
    assert capture.events()[-1].data["paidAt"] is not None


async def test_the_expiry_timer_publishes_expired(world: Any) -> None:
    w, archive, capture = world
    await publish(w, archive, switchToExpired=True, expirationDate="2026-12-09T10:00:00Z")
    expired = await archive.expire_due(now=NOW + timedelta(days=2))
    assert expired == 1
    assert [e.type for e in capture.events("journal")] == ["NoticeCreated", "NoticeExpired"]


async def test_an_event_message_is_the_outbox_envelope(world: Any) -> None:
    w, archive, capture = world
    await publish(w, archive)
    message = json.loads(capture.events()[0].outgoing().body)
    assert set(message) == {"id", "type", "createdAt", "data"}
    assert message["data"]["seq"] == 1


async def test_without_events_the_archive_writes_no_outbox() -> None:
    w = await World().seed()
    await w.archive.publish(w.parties[EC], position(1), segregation_codes=None, now=w.later())
    stored = w.stored(EC, nav(1))
    assert stored is not None
    assert not stored.get("outbox")
