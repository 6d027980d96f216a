"""The citizens' notice index as pure rules: what an archive event does to a debtor's entry.

The archive publishes an event at every write that changes what a citizen sees of a notice
(:mod:`shared.notices.events`): the notice as it is after the write, and ``seq``, the
position's write counter (the order in which the archive's states followed each other). The
index keeps one entry per notice in its debtor's partition (``debtor:<userId>``, the wallet's
pseudonymous user id of the debtor's fiscal code) holding the state of the highest ``seq`` it
has seen: an event with a lower or equal ``seq`` changes nothing, so any order of a notice's
events, duplicates included, ends in the newest state.

An entry is *open* while its notice is VALID and not past a due date that expires it; PAID,
INVALID and EXPIRED ones are the history. The first time an entry is open it is *announced*
(the "new notice" push): ``apply`` marks it ``due``, and the consumer hands the push to push's
service and writes the entry ``done`` (an entry stored ``due``, from before that order, is
finished on the next event); a consumer that died in between sends it again on redelivery
(with the same notification id: the broker drops the copy) and never after the mark.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from shared.notices.identity import position_id
from shared.notices.times import fixed_time
from shared.platform.values import MAX_JSON_INT, BoundedDateTime, SafeText

Document = dict[str, Any]
Status = Literal["VALID", "INVALID", "EXPIRED", "PAID"]
EventType = Literal[
    "NoticeCreated", "NoticeUpdated", "NoticeInvalidated", "NoticePaid", "NoticeExpired"
]
MAX_AMOUNT = 99_999_999_999  # the archive's own bound (shared/notices/models.py)


def debtor_partition(user_id: str) -> str:
    return f"debtor:{user_id}"


def entry_id(ec_fiscal_code: str, iuv: str) -> str:
    """The entry of a notice: named after the archive's position (its IUPD, or its hash)."""
    return f"notice:{position_id(ec_fiscal_code, iuv)}"


class NoticeState(BaseModel):
    """The notice as an archive event carries it (``data``)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    ec_fiscal_code: SafeText = Field(alias="ecFiscalCode", min_length=1, max_length=35)
    ec_name: SafeText | None = Field(default=None, alias="ecName", max_length=255)
    notice_code: SafeText = Field(alias="noticeCode", min_length=1, max_length=255)
    iupd: SafeText | None = Field(default=None, max_length=300)
    iuv: SafeText = Field(min_length=1, max_length=255)
    debtor_fiscal_code: SafeText = Field(alias="debtorFiscalCode", min_length=2, max_length=64)
    description: SafeText = Field(max_length=255)
    amount: StrictInt = Field(ge=0, le=MAX_AMOUNT)
    due_date: BoundedDateTime = Field(alias="dueDate")
    switch_to_expired: StrictBool = Field(default=False, alias="switchToExpired")
    status: Status
    paid_at: BoundedDateTime | None = Field(default=None, alias="paidAt")
    published_at: BoundedDateTime | None = Field(default=None, alias="publishedAt")
    seq: StrictInt = Field(ge=1, le=MAX_JSON_INT)


class NoticeEvent(BaseModel):
    """An archive event as it arrives on the index's queue (the outbox's envelope)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: SafeText = Field(min_length=1, max_length=100)
    type: EventType
    created_at: BoundedDateTime = Field(alias="createdAt")
    data: NoticeState


def effective_status(entry: Document, *, now: datetime) -> Status:
    """The stored status, or EXPIRED once a notice that expires is past its due date (the
    archive's timer may not have caught up yet)."""
    status: Status = entry["status"]
    if status == "VALID" and entry.get("switchToExpired") and entry["dueDate"] <= fixed_time(now):
        return "EXPIRED"
    return status


def is_open(entry: Document, *, now: datetime) -> bool:
    return effective_status(entry, now=now) == "VALID"


def apply(current: Document | None, event: NoticeEvent, *, user_id: str) -> Document | None:
    """The entry after ``event`` (``current`` None: not indexed yet); None: nothing changes
    (the entry has seen this state or a newer one)."""
    state = event.data
    if current is not None and int(current.get("seq", 0)) >= state.seq:
        return None
    published = state.published_at or event.created_at
    if current is not None and current.get("publishedAt"):
        published_at = min(str(current["publishedAt"]), fixed_time(published))
    else:
        published_at = fixed_time(published)
    doc_id = entry_id(state.ec_fiscal_code, state.iuv)
    announce = (current or {}).get("announce")
    if announce is None and state.status == "VALID":
        announce = "due"
    elif announce == "due" and state.status != "VALID":
        announce = "skipped"  # no longer to pay: not news any more
    return {
        "id": doc_id,
        "pk": debtor_partition(user_id),
        "kind": "notice",
        "seq": state.seq,
        "eventId": event.id,
        "ecFiscalCode": state.ec_fiscal_code,
        "ecName": state.ec_name,
        "noticeCode": state.notice_code,
        "iupd": state.iupd,
        "iuv": state.iuv,
        "description": state.description,
        "amount": state.amount,
        "dueDate": fixed_time(state.due_date),
        "switchToExpired": state.switch_to_expired,
        "status": state.status,
        "open": state.status == "VALID",
        "paidAt": fixed_time(state.paid_at) if state.paid_at else None,
        "publishedAt": published_at,
        "sortKey": f"{published_at}|{doc_id}",
        "announce": announce,
    }


def announced(entry: Document) -> Document:
    """The entry once its "new notice" push has been handed to push's service."""
    return {**entry, "announce": "done"}


def newest(events: list[NoticeEvent], *, user_id: str) -> Document | None:
    """The entry ``events`` leave when applied in the given order (the property tests' model)."""
    entry: Document | None = None
    for event in events:
        changed = apply(entry, event, user_id=user_id)
        if changed is not None:
            entry = changed
    return entry
