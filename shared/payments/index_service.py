"""The notice index's use cases: take an archive event (the queue consumer), list a citizen's
notices (the HTTP routes). Rules: :mod:`shared.payments.index`; store:
:mod:`shared.payments.index_store`.

The consumer is idempotent: an event whose state the entry has seen (the same ``seq``, or a
newer one) changes nothing, and a write lost to a concurrent one re-reads and decides again.
The "new notice" push goes before the write that marks the entry announced (one read, one
write per event): a crash in between sends it again on redelivery with the same notification
id, which the broker drops, so receiving the event again ends with the same entry and one push.
If the push cannot be queued, the entry is written still ``due`` (the list does not wait for
push) and the event is redelivered to send it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.auth.fiscal_code import parse_fiscal_code
from shared.payments import index
from shared.payments.index import Document, NoticeEvent
from shared.payments.index_store import IndexStore
from shared.payments.receipts_store import decode_continuation, encode_continuation
from shared.platform.errors import DependencyError, Invalid, PermanentError
from shared.platform.retry import retry_on_stale
from shared.platform.values import decode_json

logger = logging.getLogger(__name__)

DEFAULT_PAGE = 20
MAX_PAGE = 100


class UserIds(Protocol):
    async def of(self, fiscal_code: str) -> str: ...


class Announcer(Protocol):
    """The "new notice" push (:class:`shared.payments.notify.PaymentsNotifier`)."""

    async def new_notice(
        self,
        *,
        fiscal_code: str,
        ec_name: str,
        amount: int,
        due_date: datetime,
        notice_code: str,
        ec_fiscal_code: str,
        key: str,
    ) -> None: ...


class NoticeView(BaseModel):
    """One notice of the caller, as the app shows it."""

    model_config = ConfigDict(populate_by_name=True)

    ec_fiscal_code: str = Field(alias="ecFiscalCode")
    ec_name: str | None = Field(alias="ecName", description="The creditor institution.")
    notice_code: str = Field(alias="noticeCode", description="The notice number (nav).")
    description: str
    amount: int = Field(description="Euro cents.")
    due_date: datetime = Field(alias="dueDate")
    status: index.Status = Field(
        description="As of now (EXPIRED once past a due date that expires the notice)."
    )
    payable_now: bool = Field(alias="payableNow", description="Whether it can be paid now.")
    paid_at: datetime | None = Field(default=None, alias="paidAt")
    published_at: datetime = Field(alias="publishedAt")


class NoticePage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    items: list[NoticeView]
    continuation_token: str | None = Field(
        default=None,
        alias="continuationToken",
        description="Give it back as ?continuationToken= for the next page; absent: last page.",
    )


def view(entry: Document, *, now: datetime) -> NoticeView:
    status = index.effective_status(entry, now=now)
    return NoticeView(
        ec_fiscal_code=entry["ecFiscalCode"],
        ec_name=entry.get("ecName"),
        notice_code=entry["noticeCode"],
        description=entry["description"],
        amount=entry["amount"],
        due_date=entry["dueDate"],
        status=status,
        payable_now=status == "VALID",
        paid_at=entry.get("paidAt"),
        published_at=entry["publishedAt"],
    )


class NoticeIndex:
    """The per-debtor index of the archive's notices."""

    def __init__(
        self, store: IndexStore, user_ids: UserIds, announcer: Announcer | None = None
    ) -> None:
        self._store = store
        self._user_ids = user_ids
        self._announcer = announcer

    async def take(self, body: bytes) -> Document | None:
        """Apply one archive event (the queue's message body); the entry it leaves, or None
        when the notice's debtor is not a citizen (no fiscal code of a person: nobody could
        ever list it).

        Raises:
            PermanentError: not an archive event.
        """
        try:
            event = NoticeEvent.model_validate(decode_json(body))
        except Invalid as error:
            raise PermanentError(f"not an archive event: {error.detail}") from None
        except ValidationError as error:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()})
            raise PermanentError(f"not an archive event (check {', '.join(fields)})") from None
        try:
            fiscal_code = parse_fiscal_code(event.data.debtor_fiscal_code)
        except Invalid:
            logger.info("event %s: the debtor is not a person; not indexed", event.id)
            return None
        user_id = await self._user_ids.of(fiscal_code)
        doc_id = index.entry_id(event.data.ec_fiscal_code, event.data.iuv)

        async def step() -> Document | None:
            current = await self._store.get(user_id, doc_id)
            changed = index.apply(current, event, user_id=user_id)
            if changed is None:
                if current is None or current.get("announce") != "due":
                    return current
                changed = current  # announced before the mark was written: finish it
            etag = current["_etag"] if current else None
            if changed.get("announce") == "due":
                # the push first, then the mark in the entry's own write: a crash between the
                # two sends it again on redelivery, with the same id (the broker drops it)
                try:
                    await self._announce(changed, fiscal_code)
                except Exception:
                    # push's queue is out of reach: the list need not wait for it; the entry
                    # is stored "due" and the redelivery sends the push
                    if changed is not current:
                        await self._store.put(changed, etag)
                    raise
                changed = index.announced(changed)
            return await self._store.put(changed, etag)

        return await retry_on_stale(
            step,
            conflict=DependencyError("cosmos", f"index entry {doc_id} kept changing"),
        )

    async def _announce(self, entry: Document, fiscal_code: str) -> None:
        if self._announcer is None:
            return
        await self._announcer.new_notice(
            fiscal_code=fiscal_code,
            ec_name=entry.get("ecName") or entry["ecFiscalCode"],
            amount=entry["amount"],
            due_date=datetime.fromisoformat(entry["dueDate"]),
            notice_code=entry["noticeCode"],
            ec_fiscal_code=entry["ecFiscalCode"],
            key=entry["id"],
        )

    async def list(
        self,
        fiscal_code: str,
        *,
        history: bool,
        now: datetime,
        limit: int = DEFAULT_PAGE,
        continuation: str | None = None,
    ) -> NoticePage:
        """A page of the caller's open notices (or of their history), newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"limit must be between 1 and {MAX_PAGE}")
        after = decode_continuation(continuation) if continuation else None
        user_id = await self._user_ids.of(fiscal_code)
        found = await self._store.page(
            user_id, history=history, now=now, limit=limit + 1, after=after
        )
        page = found[:limit]
        token = encode_continuation(page[-1]["sortKey"]) if len(found) > limit else None
        return NoticePage(items=[view(e, now=now) for e in page], continuation_token=token)
