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
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
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
class ArchiveEvents:
    """Where the archive's events go: ``queues`` (one per consumer) through ``publisher``."""

    queues: tuple[str, ...]
    publisher: Publisher

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
