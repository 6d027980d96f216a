"""The archive's rules as pure functions of (the stored document, what happens): no I/O.

Ordering: every EC write carries an order key, ``<time it reached the archive>/<source>/<line>``
(fixed width, so keys compare as strings). A position remembers the key of the newest write it
has seen (``version``); a write whose key is not newer changes nothing, and a newer write whose
content equals the stored one changes nothing but ``version`` (else an older write arriving
later could still win). Because each write sets the whole content, the final state is the
newest write's, whatever order writes are processed in. One case needs a trace: amount 0 for
a position that is not there is refused (422), but a ``tombstone`` keeps that write's key and
content, so that an older create processed later ends as the newer invalidation says (INVALID)
instead of resurrecting the notice. A tombstone reads as "not there" everywhere else.

Payments (PAID) and expiry (EXPIRED) change the status only, never the version.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.notices.models import (
    CONTENT_FIELDS,
    HISTORY_LENGTH,
    Action,
    Change,
    Position,
    PositionIn,
    Status,
    content_of,
    fixed_time,
    position_id,
)
from shared.platform.errors import Conflict, Invalid, NotFound

Document = dict[str, Any]
Outcome = Literal["created", "updated", "invalidated", "revalidated", "unchanged", "superseded"]
API_SOURCE = "api"


def order_key(received_at: datetime, source: str, line: int = 0) -> str:
    """The order of a write: when it reached the archive, then its source and line (nine
    digits: a 20 MB upload has fewer lines, blank ones included)."""
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
        return position_id(self.position.pa_fiscal_code, self.position.the_nav)

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


def _change(write: Write, action: Action, status: Status, fields: list[str]) -> Document:
    # A Change in its stored form, built directly: this runs once per position of a bulk.
    return {
        "at": fixed_time(write.at),
        "by": write.by,
        "action": action,
        "status": status,
        "fields": fields,
        "source": write.source,
        "receiptId": None,
    }


def _with_history(document: Document, *changes: Document) -> list[Document]:
    return [*(document.get("history") or []), *changes][-HISTORY_LENGTH:]


def decide(current: Document | None, write: Write) -> Decision:
    """What ``write`` does to the stored ``current`` document (None: not stored).

    Raises:
        Invalid: (422) amount 0 for a position that is not in the archive.
        Conflict: the position is PAID: no EC write changes it any more.
    """
    content = write.content()
    if current is not None and write.key <= current["version"]:
        if current.get("tombstone") and write.position.amount > 0:
            return Decision("superseded", _resurrected_invalid(current, write))
        return Decision("unchanged" if write.key == current["version"] else "superseded", None)
    if not is_present(current):
        if write.position.amount == 0:
            tombstone = {
                **content,
                "id": write.doc_id,
                "pk": write.doc_id,
                "kind": "position",
                "tombstone": True,
                "version": write.key,
                "invalidatedBy": _change(write, "invalidated", "INVALID", []),
            }
            raise NotThere(tombstone)
        document = {
            **content,
            "id": write.doc_id,
            "pk": write.doc_id,
            "kind": "position",
            "status": "VALID",
            "version": write.key,
            "expiresAt": content["expirationDate"],
            "receiptId": None,
            "paidAt": None,
            "updatedAt": fixed_time(write.at),
            "history": [_change(write, "created", "VALID", [])],
        }
        return Decision("created", document)
    assert current is not None
    if current["status"] == "PAID":
        raise Conflict(
            f"position {current['nav']} of {current['paFiscalCode']} was paid (receipt "
            f"{current.get('receiptId')}) and can no longer be changed",
            errors=[{"loc": ["nav"], "msg": "the position is PAID", "type": "not_modifiable"}],
        )
    changed = [name for name in CONTENT_FIELDS if current.get(name) != content[name]]
    if not changed:  # the same content: only the order moves on
        return Decision("unchanged", {**current, "version": write.key})
    status: Status = "INVALID" if write.position.amount == 0 else "VALID"
    action: Action
    if status == "INVALID":
        action = "invalidated" if current["status"] != "INVALID" else "updated"
    else:
        action = "updated" if current["status"] == "VALID" else "revalidated"
    document = {
        **current,
        **content,
        "status": status,
        "version": write.key,
        "expiresAt": content["expirationDate"],
        "updatedAt": fixed_time(write.at),
        "history": _with_history(current, _change(write, action, status, changed)),
    }
    outcome: Outcome = (
        "invalidated"
        if action == "invalidated"
        else ("revalidated" if action == "revalidated" else "updated")
    )
    return Decision(outcome, document)


class NotThere(Invalid):
    """Amount 0 for a position that is not in the archive (422); carries the tombstone."""

    def __init__(self, tombstone: Document) -> None:
        super().__init__(
            f"no position {tombstone['nav']} of {tombstone['paFiscalCode']} in the archive: "
            "amount 0 invalidates an existing position and creates nothing",
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


def _resurrected_invalid(tombstone: Document, write: Write) -> Document:
    """An older create reached the archive after a newer invalidation: in order, the create
    came first and the invalidation ended it, so the position is INVALID as the tombstone says."""
    document = {k: v for k, v in tombstone.items() if k not in ("tombstone", "invalidatedBy")}
    document.update(
        status="INVALID",
        expiresAt=tombstone["expirationDate"],
        receiptId=None,
        paidAt=None,
        updatedAt=tombstone["invalidatedBy"]["at"],
        history=[_change(write, "created", "VALID", []), tombstone["invalidatedBy"]],
    )
    return document


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
) -> Document | None:
    """The document PAID with ``receipt_id``; None if it already is (the same receipt).

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
