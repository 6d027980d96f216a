"""The archive's events: what a write of a position tells the archive's consumers.

Every write that changes what a citizen would see of a notice (its content or status) puts one
event per destination queue in the written document's ``outbox`` (the same write: see
:mod:`shared.platform.outbox`), typed ``NoticeCreated``, ``NoticeUpdated``,
``NoticeInvalidated``, ``NoticePaid`` or ``NoticeExpired``. The data is the notice as it is
after the write, with ``seq``: the position's write counter, one more at every write that
publishes. Writes of one position are serialised by its ETag, so ``seq`` is the order in which
the archive's states followed each other: a consumer keeps the state of the highest ``seq`` it
has seen and ignores an older one. (The order key ``version`` cannot serve: a late amount-0
write can move it back, and payments and expiry leave it as it is.)

Destinations are a tuple of queue names chosen in the composition root (one queue per
consumer): adding a consumer is adding its queue there.

A write made for a person (the back office's create, edit and invalidate) may carry a
:class:`WriteNote`: who asked and from where. It becomes one ``NoticeWriteNoted`` event for
``notes_queue`` (the journal's) in the same outbox, so the note is as durable as the write and
the caller's answer never waits on the journal.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.notices.rules import Document, is_present
from shared.platform.outbox import Event, add_events

EVENT_TYPES = {
    "created": "NoticeCreated",
    "updated": "NoticeUpdated",
    "invalidated": "NoticeInvalidated",
    "paid": "NoticePaid",
    "expired": "NoticeExpired",
}


class Publisher(Protocol):
    def publish_soon(self, document: Document, *, only: Collection[Event] | None = None) -> None:
        """Send these events of the written document after the caller has answered (see
        :meth:`shared.platform.outbox.Outbox.publish_soon`)."""
        ...


def snapshot(document: Document) -> dict[str, Any]:
    """What an event says of a stored position (without its ``seq``)."""
    return {
        "ecFiscalCode": document["paFiscalCode"],
        "ecName": document.get("companyName"),
        "noticeCode": document["nav"],
        "iupd": document.get("iupd"),
        "iuv": document["iuv"],
        "debtorFiscalCode": document["entityFiscalCode"],
        "debtorType": document.get("entityType"),
        "description": document["description"],
        "amount": document["amount"],
        "dueDate": document["expirationDate"],
        "switchToExpired": bool(document.get("switchToExpired")),
        "status": document["status"],
        "paidAt": document.get("paidAt"),
        "publishedAt": document.get("publishedAt") or document.get("updatedAt"),
    }


def kind_of(before: Document | None, after: Document) -> str:
    """The event a write from ``before`` (None: absent) to ``after`` makes."""
    was = before["status"] if before is not None and is_present(before) else None
    status = after["status"]
    if status != was:
        if status == "PAID":
            return "paid"
        if status == "EXPIRED":
            return "expired"
        if status == "INVALID":
            return "invalidated"
    return "created" if was is None else "updated"


@dataclass(frozen=True)
class WriteNote:
    """Who asked for a write and from where (``by``: ``objectId``, ``name``, ``from``), what
    they did (``action``, a short sentence) and the fields they sent."""

    by: dict[str, Any]
    action: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArchiveEvents:
    """Where the archive's events go: ``queues`` (one per consumer) through ``publisher``;
    a write's :class:`WriteNote` goes to ``notes_queue`` (None: notes are dropped)."""

    queues: tuple[str, ...]
    publisher: Publisher
    notes_queue: str | None = None

    def noted(self, document: Document, note: WriteNote, *, now: datetime) -> list[Event]:
        """Put ``note``'s event in ``document``'s outbox (in place) and return it."""
        if self.notes_queue is None:
            return []
        data = {
            "ecFiscalCode": document["paFiscalCode"],
            "noticeCode": document["nav"],
            "by": note.by,
            "action": note.action,
            "fields": note.fields,
        }
        event = Event.new("NoticeWriteNoted", self.notes_queue, data, now=now)
        document["outbox"] = list(document.get("outbox") or [])  # not the list read
        add_events(document, [event])
        return [event]

    def stamp(self, before: Document | None, after: Document, *, now: datetime) -> list[Event]:
        """Put the events of the write ``before`` -> ``after`` in ``after`` (in place: its
        ``seq`` and ``outbox``) and return them; none if a citizen would see no change."""
        if not self.queues or not is_present(after):
            return []
        data = snapshot(after)
        present_before = before if before is not None and is_present(before) else None
        if present_before is not None and snapshot(present_before) == data:
            return []
        after.setdefault("publishedAt", after.get("updatedAt"))  # set once, at creation
        seq = int((before or {}).get("seq") or 0) + 1
        after["seq"] = seq
        data["seq"] = seq
        after["outbox"] = list(after.get("outbox") or [])  # not the list ``before`` holds
        type_ = EVENT_TYPES[kind_of(present_before, after)]
        events = [Event.new(type_, queue, data, now=now) for queue in self.queues]
        add_events(after, events)
        return events

    def publish(self, written: Document, events: list[Event]) -> None:
        if events:
            self.publisher.publish_soon(written, only=events)
