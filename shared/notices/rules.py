"""The archive's rules as pure functions of (the stored document, what happens): no I/O.

What an EC's write does is pagoPA's (``AcaService.kt``): amount > 0 creates the position or
updates it, amount 0 invalidates it; amount 0 for a position that is not there is a 422; a
position that is INVALID or PAID refuses every write (409). EXPIRED is updated like VALID.

Ordering: every EC write carries an order key, ``<time it reached the archive>/<source>/<line>``
(fixed width, so keys compare as strings), and the stored state is always the one that
processing the position's writes in key order gives, whatever order they are processed in
(a bulk's lines run concurrently, a redelivered chunk runs again). In key order:

- amount-0 writes before the first amount > 0 (``first``) are refused (nothing to invalidate);
- the first amount-0 write after ``first`` invalidates it (``invalidation``) and every later
  write is refused (409);
- without one, the content is the newest write's (``last``).

So a document keeps ``first``, ``last``, ``invalidation`` and the keys (and content) of the
amount-0 writes it has seen (``zeros``, the earliest :data:`ZEROS_KEPT`): an older write that
arrives late moves ``first`` back or brings an earlier invalidation, and the state follows. A
write whose key the document has already seen changes nothing (a redelivery). Amount 0 for a
position that is not there leaves a ``tombstone`` that keeps those keys; it reads as "not there"
everywhere else.

Payments (PAID) and expiry (EXPIRED) change the status only; an EC write after a payment is
refused (409) and one older than what the position has seen changes nothing.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.notices.identity import iupd, position_id
from shared.notices.models import (
    CONTENT_FIELDS,
    HISTORY_LENGTH,
    Action,
    Change,
    Position,
    PositionIn,
    Status,
    content_of,
)
from shared.notices.times import fixed_time
from shared.platform.errors import Conflict, Invalid, NotFound

Document = dict[str, Any]
Outcome = Literal["created", "updated", "invalidated", "revalidated", "unchanged", "superseded"]
API_SOURCE = "api"
ZEROS_KEPT = HISTORY_LENGTH
"""Amount-0 writes a position remembers (an EC invalidating one notice that often, racing its
creation, is far beyond any real use: past it the earliest are forgotten)."""


def order_key(received_at: datetime, source: str, line: int = 0) -> str:
    """The order of a write: when it reached the archive, then its source and line (nine
    digits: an upload has fewer lines, blank ones included)."""
    return f"{fixed_time(received_at)}/{source}/{line:09d}"


def new_source() -> str:
    """A source id for one API write (orders writes that arrive in the same microsecond)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Write:
    """An EC's write of one position, with everything the rules need to decide on it."""

    position: PositionIn
    key: str
    by: str
    at: datetime
    source: str
    company_name: str
    default_iban: str | None = None

    @property
    def doc_id(self) -> str:
        return position_id(self.position.pa_fiscal_code, self.position.iuv)

    def content(self) -> Document:
        return content_of(
            self.position, company_name=self.company_name, default_iban=self.default_iban
        )


@dataclass(frozen=True)
class Decision:
    """What a write does: ``document`` to store (None: nothing to store)."""

    outcome: Outcome
    document: Document | None


def is_present(document: Document | None) -> bool:
    return document is not None and not document.get("tombstone")


def _change(
    write: Write, action: Action, status: Status, fields: list[str], at: str | None = None
) -> Document:
    # A Change in its stored form, built directly: this runs once per position of a bulk.
    return {
        "at": at or fixed_time(write.at),
        "by": write.by,
        "action": action,
        "status": status,
        "fields": fields,
        "source": write.source,
        "receiptId": None,
    }


def _with_history(document: Document, *changes: Document) -> list[Document]:
    return [*(document.get("history") or []), *changes][-HISTORY_LENGTH:]


def _zero(write: Write, content: Document) -> Document:
    """What a document remembers of an amount-0 write: enough to apply it later."""
    change = _change(write, "invalidated", "INVALID", [])
    return {"key": write.key, "content": content, "change": change}


def _with_zero(zeros: list[Document], zero: Document) -> list[Document]:
    return sorted([*zeros, zero], key=lambda z: str(z["key"]))[:ZEROS_KEPT]


def _first_zero_after(zeros: list[Document], key: str) -> Document | None:
    return next((z for z in zeros if z["key"] > key), None)


def _seen(document: Document, key: str) -> bool:
    """Whether the document has already taken the write of ``key`` into account."""
    if key in (document.get("first"), document.get("last"), document.get("invalidation")):
        return True
    return any(z["key"] == key for z in document.get("zeros") or [])


def _newest_seen(document: Document) -> str:
    keys = [document.get("first"), document.get("last"), document.get("invalidation")]
    keys += [z["key"] for z in document.get("zeros") or []]
    return max((k for k in keys if k), default="")


def invalid_refusal(document: Document) -> Conflict:
    """pagoPA's 409 for any write to a position that is no longer the EC's to change."""
    status = document["status"]
    where = f"debt position {document.get('iupd') or document['iuv']}"
    if status == "PAID":
        detail = (
            f"Unauthorized action on {where}: it was paid (receipt {document.get('receiptId')}) "
            "and can no longer be changed"
        )
    else:
        detail = (
            f"Unauthorized action on {where}: it is INVALID (invalidated with amount 0), and an "
            "invalid position can be neither updated nor invalidated again"
        )
    refusal = Conflict(
        detail,
        errors=[{"loc": ["iuv"], "msg": f"the position is {status}", "type": "not_modifiable"}],
    )
    refusal.title = "Unauthorized action"
    return refusal


def decide(current: Document | None, write: Write) -> Decision:
    """What ``write`` does to the stored ``current`` document (None: not stored).

    Raises:
        NotThere: (422) amount 0 for a position that is not in the archive; carries the
            tombstone to store.
        Conflict: (409) the position is INVALID or PAID: no EC write changes it any more.
    """
    content = write.content()
    if not is_present(current):
        return _on_absent(current, write, content)
    assert current is not None
    if current["status"] == "PAID":
        if _seen(current, write.key):
            return Decision("unchanged", None)
        if write.key < _newest_seen(current):
            return Decision("superseded", None)
        raise invalid_refusal(current)
    if write.position.amount == 0:
        return _invalidate(current, write, content)
    return _update(current, write, content)


def _on_absent(current: Document | None, write: Write, content: Document) -> Decision:
    zeros: list[Document] = list(current.get("zeros") or []) if current else []
    if write.position.amount == 0:
        if not any(z["key"] == write.key for z in zeros):
            zeros = _with_zero(zeros, _zero(write, content))
        tombstone = {
            **content,
            "id": write.doc_id,
            "pk": write.doc_id,
            "kind": "position",
            "iupd": write.position.iupd,
            "nav": write.position.the_nav,
            "tombstone": True,
            "version": zeros[-1]["key"],
            "zeros": zeros,
        }
        raise NotThere(tombstone)
    document = {
        **content,
        "id": write.doc_id,
        "pk": write.doc_id,
        "kind": "position",
        "iupd": write.position.iupd,
        "nav": write.position.the_nav,
        "status": "VALID",
        "first": write.key,
        "last": write.key,
        "invalidation": None,
        "zeros": zeros,
        "version": write.key,
        "expiresAt": content["expirationDate"],
        "receiptId": None,
        "paidAt": None,
        "updatedAt": fixed_time(write.at),
        "history": [_change(write, "created", "VALID", [])],
    }
    earlier_invalidation = _first_zero_after(zeros, write.key)
    if earlier_invalidation is not None:
        # in key order this create came first and a newer amount 0 (already here) ended it
        return Decision("superseded", _invalidated(document, earlier_invalidation))
    return Decision("created", document)


def _invalidated(document: Document, zero: Document) -> Document:
    """``document`` invalidated by the remembered amount-0 write ``zero`` (its content, its
    key; the nav stays the position's)."""
    return {
        **document,
        **zero["content"],
        "status": "INVALID",
        "invalidation": zero["key"],
        "version": zero["key"],
        "expiresAt": zero["content"]["expirationDate"],
        "updatedAt": zero["change"]["at"],
        "history": _with_history(document, zero["change"]),
    }


def _invalidate(current: Document, write: Write, content: Document) -> Decision:
    if _seen(current, write.key):
        return Decision("unchanged", None)
    zero = _zero(write, content)
    zeros = _with_zero(list(current.get("zeros") or []), zero)
    if write.key < current["first"]:
        # before the position was created, in key order: nothing to invalidate then; kept in
        # case an older create arrives later still
        return Decision("superseded", {**current, "zeros": zeros})
    invalidation = current.get("invalidation")
    if invalidation is not None and write.key > invalidation:
        raise invalid_refusal(current)
    changed = [name for name in CONTENT_FIELDS if current.get(name) != content[name]]
    zero["change"]["fields"] = changed
    document = _invalidated({**current, "zeros": zeros}, zero)
    if invalidation is not None:  # an earlier invalidation than the one it had
        return Decision("superseded", document)
    return Decision("invalidated", document)


def _update(current: Document, write: Write, content: Document) -> Decision:
    if _seen(current, write.key):
        return Decision("unchanged", None)
    invalidation = current.get("invalidation")
    if invalidation is not None and write.key > invalidation:
        raise invalid_refusal(current)
    if write.key < current["first"]:
        # an older create: in key order it came first, so an amount 0 between it and the old
        # first may now invalidate the position
        document = {**current, "first": write.key}
        zero = _first_zero_after(list(current.get("zeros") or []), write.key)
        if zero is not None and (invalidation is None or zero["key"] < invalidation):
            document = _invalidated(document, zero)
        return Decision("superseded", document)
    if invalidation is not None or write.key < current["last"]:
        # in key order an invalidation or a newer write overrides it
        return Decision("superseded", None)
    changed = [name for name in CONTENT_FIELDS if current.get(name) != content[name]]
    if not changed and current["status"] == "VALID":  # the same content: only the order moves on
        return Decision("unchanged", {**current, "last": write.key, "version": write.key})
    action: Action = "updated" if current["status"] == "VALID" else "revalidated"
    document = {
        **current,
        **content,
        "status": "VALID",
        "last": write.key,
        "version": write.key,
        "expiresAt": content["expirationDate"],
        "updatedAt": fixed_time(write.at),
        "history": _with_history(current, _change(write, action, "VALID", changed)),
    }
    return Decision("updated" if action == "updated" else "revalidated", document)


class NotThere(Invalid):
    """Amount 0 for a position that is not in the archive (422); carries the tombstone."""

    def __init__(self, tombstone: Document) -> None:
        super().__init__(
            f"Can not perform the requested action on debt position {tombstone.get('iupd')}: "
            "it is not in the archive, and amount 0 invalidates an existing position only",
            status=422,
            errors=[
                {
                    "loc": ["amount"],
                    "msg": "0 for a position that does not exist",
                    "type": "nothing_to_invalidate",
                }
            ],
        )
        self.tombstone = tombstone


def expire(current: Document, *, now: datetime) -> Document | None:
    """The document EXPIRED if it is VALID, asks to expire, and is past its date; else None."""
    if not is_present(current) or current["status"] != "VALID":
        return None
    if not current.get("switchToExpired") or current["expiresAt"] > fixed_time(now):
        return None
    change = Change(
        at=now, by="archive", action="expired", status="EXPIRED", fields=["status"]
    ).model_dump(mode="json", by_alias=True)
    return {
        **current,
        "status": "EXPIRED",
        "updatedAt": fixed_time(now),
        "history": _with_history(current, change),
    }


def pay(
    current: Document | None,
    *,
    receipt_id: str,
    paid_at: datetime,
    by: str,
    stand_in: bool,
    now: datetime,
    check_payable: bool | None = None,
    paid_with: dict[str, Any] | None = None,
) -> Document | None:
    """The document PAID with ``receipt_id``; None if it already is (the same receipt).
    ``paid_with``: how it was paid (method, fee, payer), kept as ``paidWith``.

    In stand-in the archive is the only truth, so only a payable position (VALID, not past an
    expiry that switches it, payStandIn) may be paid. Otherwise the EC's own system accepted
    the payment and the archive records it whatever it last knew.

    Raises:
        NotFound: no such position.
        Conflict: paid with another receipt, or not payable in stand-in.
    """
    if current is None or not is_present(current):
        raise NotFound("no such position in the archive")
    where = f"position {current['nav']} of {current['paFiscalCode']}"
    if current["status"] == "PAID":
        if current.get("receiptId") == receipt_id:
            return None
        raise Conflict(f"{where} was already paid with receipt {current.get('receiptId')}")
    if stand_in if check_payable is None else check_payable:
        status = effective_status(current, now=now)
        if status != "VALID":
            raise Conflict(f"{where} is {status}: it cannot be paid in stand-in")
        if not current.get("payStandIn", True):
            raise Conflict(f"{where} may not be paid in stand-in (payStandIn is false)")
    change = Change(
        at=now,
        by=by,
        action="paid",
        status="PAID",
        fields=["status"],
        source="stand-in" if stand_in else "payment",
        receipt_id=receipt_id,
    ).model_dump(mode="json", by_alias=True)
    return {
        **current,
        "status": "PAID",
        "receiptId": receipt_id,
        "paidAt": fixed_time(paid_at),
        "updatedAt": fixed_time(now),
        "history": _with_history(current, change),
        **({"paidWith": paid_with} if paid_with else {}),
    }


def effective_status(document: Document, *, now: datetime) -> Status:
    """The stored status, or EXPIRED if the timer has not caught up with it yet."""
    status: Status = document["status"]
    if (
        status == "VALID"
        and document.get("switchToExpired")
        and document["expiresAt"] <= fixed_time(now)
    ):
        return "EXPIRED"
    return status


def as_position(document: Document, *, now: datetime) -> Position:
    """The returned form of a stored (present) document."""
    shown = copy.copy(document)
    shown["status"] = effective_status(document, now=now)
    return Position.model_validate(shown)


def rekeyed(legacy: Document) -> Document:
    """A position stored under its nav (before positions were named by IUPD), in today's form:
    its IUPD's id, and the order keys its one ``version`` stood for."""
    document = {k: v for k, v in legacy.items() if not k.startswith("_")}
    new_id = position_id(legacy["paFiscalCode"], legacy["iuv"])
    document.update(id=new_id, pk=new_id, iupd=iupd(legacy["paFiscalCode"], legacy["iuv"]))
    document.setdefault("zeros", [])
    if document.get("tombstone"):
        change = legacy.get("invalidatedBy") or {}
        content = {name: legacy.get(name) for name in CONTENT_FIELDS}
        document["zeros"] = [{"key": legacy["version"], "content": content, "change": change}]
        document.pop("invalidatedBy", None)
        return document
    document.setdefault("first", legacy["version"])
    document.setdefault("last", legacy["version"])
    document.setdefault(
        "invalidation", legacy["version"] if legacy["status"] == "INVALID" else None
    )
    return document
