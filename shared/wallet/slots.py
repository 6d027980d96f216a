"""The limit on a citizen's live instruments, held in one document the limit is decided on.

Counting live instruments with a query and then writing is a check-then-write race: 40 onboardings
at once all count 0 and all write. So each citizen's partition holds one more document, ``slots``
(id ``slots``, ``kind`` ``slots``): the walletId of every live instrument and until when it is
live (a session until its window closes, a card until its expiry month ends on the Italian
calendar, other instruments until they go). Every change that takes or frees a slot writes the
slots document with its ETag in the same transactional batch as the instrument (slots first), so
two changes decided on the same slots document cannot both be written: the loser reloads and
decides again. Expired entries are dropped at each write, so the document stays small.

A partition without the document (instruments onboarded before it existed) gets one on its first
change: rebuilt from the instruments the change has read, and created in the same batch (two
creators: one gets 409 and decides again on the other's). See docs/decisions/0161.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from shared.platform.clock import ROME
from shared.wallet.models import PENDING_STATUSES, SLOTS_ID, StoredInstrument, fixed_time
from shared.wallet.store import Document


def card_valid_until(item: StoredInstrument) -> datetime | None:
    """The first instant a card is expired (the month after its expiry month starts in Rome);
    None for an instrument without an expiry."""
    value = (item.details or {}).get("expiryDate")
    if not isinstance(value, str) or len(value) != 6 or not value.isdigit():
        return None
    year, month = int(value[:4]), int(value[4:])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=ROME)


def live_until(item: StoredInstrument, session_window: timedelta) -> datetime | None:
    """Until when ``item`` (in progress or validated) holds a slot; None: until it goes."""
    if item.status in PENDING_STATUSES:
        return item.created_at + session_window
    return card_valid_until(item)


class Slots:
    """A citizen's slots: walletId -> live until (None: until deleted or replaced)."""

    def __init__(
        self, pk: str, held: dict[str, datetime | None], read: Document | None = None
    ) -> None:
        self.pk = pk
        self.held = held
        self._read = read

    @classmethod
    def load(cls, raw: Document) -> Slots:
        held = {
            wallet_id: None if until is None else datetime.fromisoformat(until)
            for wallet_id, until in (raw.get("held") or {}).items()
        }
        return cls(str(raw["pk"]), held, raw)

    @classmethod
    def rebuilt(
        cls,
        pk: str,
        instruments: Iterable[StoredInstrument],
        *,
        now: datetime,
        session_window: timedelta,
    ) -> Slots:
        """The slots of a partition that has no slots document yet, from its instruments."""
        held: dict[str, datetime | None] = {}
        for item in instruments:
            if item.status in PENDING_STATUSES or item.status == "VALIDATED":
                until = live_until(item, session_window)
                if until is None or until > now:
                    held[item.id] = until
        return cls(pk, held)

    def live(self, now: datetime) -> dict[str, datetime | None]:
        return {w: u for w, u in self.held.items() if u is None or u > now}

    def count(self, now: datetime) -> int:
        return len(self.live(now))

    def holds(self, wallet_id: str, now: datetime) -> bool:
        return wallet_id in self.live(now)

    def hold(self, wallet_id: str, until: datetime | None) -> Slots:
        return Slots(self.pk, {**self.held, wallet_id: until}, self._read)

    def release(self, *wallet_ids: str) -> Slots:
        return Slots(
            self.pk, {w: u for w, u in self.held.items() if w not in wallet_ids}, self._read
        )

    def document(self, now: datetime) -> Document:
        """The document to write: created if it was not read, else replaced if unchanged."""
        document: dict[str, Any] = {
            "id": SLOTS_ID,
            "pk": self.pk,
            "kind": "slots",
            "held": {
                w: None if u is None else fixed_time(u) for w, u in sorted(self.live(now).items())
            },
        }
        if self._read is not None:
            document["_etag"] = self._read.get("_etag")
        return document
