"""A back-office sign-in, told to the journal as an event on its queue (not written by the
request): ``GET /api/bo/v1/me`` answers whatever the journal's store is doing.

The event's id is a hash of the EC and the platform's principal header, the same for every
request of one sign-in, so the page's every load sends the same ids and the journal keeps one
entry per sign-in and EC (a create by id; the broker also drops copies inside its
duplicate-detection window).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from shared.journal.models import Who
from shared.platform.outbox import Event

SIGNED_IN = "SignedIn"
NAME_MAX = 200
"""The longest user name the journal's consumer reads (longer ones are cut, not refused)."""


def sign_in_id(ec: str, session: str) -> str:
    return "signin-" + hashlib.sha256(f"{ec}\n{session}".encode()).hexdigest()[:40]


def sign_in_events(
    ecs: list[str], who: Who, *, session: str, from_: str | None, queue: str, now: datetime
) -> list[Event]:
    """One ``SignedIn`` event per EC the user may act for."""
    by = {"objectId": who.object_id, "name": (who.name or None) and who.name[:NAME_MAX]}
    return [
        Event(
            id=sign_in_id(ec, session),
            type=SIGNED_IN,
            queue=queue,
            data={"ecFiscalCode": ec, "by": {**by, "from": from_}},
            created_at=now,
        )
        for ec in ecs
    ]
