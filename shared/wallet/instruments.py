"""The wallet's instrument documents and the PSP notification's pieces, as plain functions.

What the wallet service reads and writes (an instrument's document with its ETag and outbox, a
card's expiry on the Italian calendar) and how it checks a PSP notification (the digest of its
outcome, its details against the instrument type, the signature it accepted), kept apart from
the use cases in :mod:`shared.wallet.service`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.platform.clock import ROME
from shared.platform.errors import Invalid
from shared.platform.outbox import Event, add_events
from shared.wallet.models import (
    DETAILS_OUT,
    PENDING_STATUSES,
    Application,
    FailureDetailsIn,
    Instrument,
    PspNotification,
    SeenSignature,
    Status,
    StoredInstrument,
)
from shared.wallet.store import Document


class SeenSignatureGuard:
    """The replay guard handed to :func:`verify_signed_request` for one notification: it keeps
    the verified signature, which the instrument document then records (and refuses if it holds
    it already)."""

    def __init__(self) -> None:
        self._seen: SeenSignature | None = None

    async def first_use(self, signature_id: str, expires_at: datetime) -> bool:
        digest = hashlib.sha256(signature_id.encode()).hexdigest()[:32]
        self._seen = SeenSignature(id=digest, until=expires_at)
        return True  # the instrument document decides, in the same write as the change

    def accepted(self) -> SeenSignature:
        assert self._seen is not None, "verify_signed_request did not verify"
        return self._seen


def find_instrument(documents: list[Document], wallet_id: str) -> Document | None:
    return next((d for d in documents if d["id"] == wallet_id), None)


def card_expired(item: StoredInstrument, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month, on the Italian calendar."""
    details = item.details or {}
    year, month = details.get("expiryYear"), details.get("expiryMonth")
    if not isinstance(year, int) or not isinstance(month, int):
        return False
    today = now.astimezone(ROME)
    return (today.year, today.month) > (year, month)


def load_instrument(raw: Document) -> StoredInstrument:
    return StoredInstrument.model_validate(raw)


def instrument_document(
    item: StoredInstrument, read: Document | None = None, events: list[Event] | None = None
) -> Document:
    """The document to write for ``item``: the ETag it was read with, its pending outbox."""
    document = item.model_dump(mode="json", by_alias=True, exclude_none=True)
    if read is not None:
        document["_etag"] = read.get("_etag")
        document["outbox"] = list(read.get("outbox") or [])
    if events:
        add_events(document, events)
    return document


def notification_digest(notification: PspNotification) -> str:
    canonical = json.dumps(
        {"outcome": notification.outcome, "details": notification.details},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


M = TypeVar("M", bound=BaseModel)


def parse_details(model: type[M], details: dict[str, Any]) -> M:
    try:
        return model.model_validate(details)
    except ValidationError as error:
        errors = [
            {"loc": ["details", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in error.errors(include_input=False, include_url=False)
        ]
        raise Invalid(
            "the details do not fit the outcome and the instrument type", status=422, errors=errors
        ) from None


def failure_details(notification: PspNotification) -> FailureDetailsIn:
    return parse_details(FailureDetailsIn, notification.details)


def status_as_of(item: StoredInstrument, now: datetime, session_window: timedelta) -> Status:
    """The status as of ``now``: sessions past the window and expired cards are computed."""
    if item.status in PENDING_STATUSES and now >= item.created_at + session_window:
        return "ERROR"
    if item.status == "VALIDATED" and card_expired(item, now):
        return "EXPIRED"
    return item.status


def instrument_view(item: StoredInstrument, now: datetime, session_window: timedelta) -> Instrument:
    """What the citizen is shown of ``item`` as of ``now``."""
    status = status_as_of(item, now, session_window)
    reason = item.error_reason
    if status == "ERROR" and item.status in PENDING_STATUSES:
        reason = "SESSION_EXPIRED"
    details = DETAILS_OUT[item.type].model_validate(item.details) if item.details else None
    return Instrument.model_validate(
        {
            "walletId": item.id,
            "type": item.type,
            "status": status,
            "applications": [
                Application(name=n, status=s) for n, s in sorted(item.applications.items())
            ],
            "details": details,
            "errorReason": reason,
            "replacedBy": item.replaced_by,
            "createdAt": item.created_at,
            "updatedAt": item.updated_at,
        }
    )
