"""The wallet's instrument documents as plain functions: reading, writing, showing them.

What the wallet service reads and writes (an instrument's document with its ETag and outbox),
a card's expiry on the Italian calendar, a session's bearer token (only its hash is kept) and
what a citizen is shown, kept apart from the use cases in :mod:`shared.wallet.service`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from shared.platform.clock import ROME
from shared.platform.outbox import Event, add_events
from shared.wallet.models import (
    PENDING_STATUSES,
    Application,
    CardDetails,
    Instrument,
    Status,
    StoredInstrument,
)
from shared.wallet.store import Document

_ORDER_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def find_instrument(documents: list[Document], wallet_id: str) -> Document | None:
    return next((d for d in documents if d["id"] == wallet_id), None)


def expiry(item: StoredInstrument) -> tuple[int, int] | None:
    """The card's expiry (year, month) from its ``expiryDate`` (YYYYMM); None without one."""
    value = (item.details or {}).get("expiryDate")
    if not isinstance(value, str) or len(value) != 6 or not value.isdigit():
        return None
    return int(value[:4]), int(value[4:])


def card_expired(item: StoredInstrument, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month, on the Italian calendar."""
    until = expiry(item)
    if until is None:
        return False
    today = now.astimezone(ROME)
    return (today.year, today.month) > until


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


def new_order_id() -> str:
    # 18 characters from a 36-letter alphabet: ~93 bits, not guessable. One draw of the whole
    # (uniform over 36**18, as 18 draws of one character each are): one system call, not 18.
    number = secrets.randbelow(36**18)
    characters = []
    for _ in range(18):
        number, index = divmod(number, 36)
        characters.append(_ORDER_ALPHABET[index])
    return "".join(characters)


def new_token() -> str:
    """A session's bearer token for the gateway: 256 random bits; only its hash is stored."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(item: StoredInstrument, token: str, order_id: str, now: datetime) -> bool:
    """Whether ``token`` is the bearer token of ``item``'s session ``order_id``, still valid."""
    if item.token_hash is None or item.token_until is None or item.order_id != order_id:
        return False
    return now < item.token_until and hmac.compare_digest(item.token_hash, token_hash(token))


def status_as_of(item: StoredInstrument, now: datetime, session_window: timedelta) -> Status:
    """The status as of ``now``: a session past the window is VALIDATION_EXPIRED."""
    if item.status in PENDING_STATUSES and now >= item.created_at + session_window:
        return "VALIDATION_EXPIRED"
    return item.status


def instrument_view(item: StoredInstrument, now: datetime, session_window: timedelta) -> Instrument:
    """What the citizen is shown of ``item`` as of ``now``."""
    details = CardDetails.model_validate(item.details) if item.details else None
    return Instrument.model_validate(
        {
            "walletId": item.id,
            "paymentMethodId": item.payment_method_id,
            "type": item.type,
            "status": status_as_of(item, now, session_window),
            "applications": [
                Application(name=n, status=s) for n, s in sorted(item.applications.items())
            ],
            "details": details,
            "errorCode": item.error_code,
            "replacedBy": item.replaced_by,
            "favourite": item.favourite is not None,
            "lastUsage": item.last_usage,
            "createdAt": item.created_at,
            "updatedAt": item.updated_at,
        }
    )
