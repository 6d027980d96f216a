"""The back office's payments: the EC's paid notices, from the EC's positions index
(:mod:`shared.notices.ec_index`), filtered by the day paid (Europe/Rome), a page at a time, and
the same list as CSV for the EC's accounting.

Who paid, when, through which PSP and whether in stand-in come from the archived position the
index copies: the debtor, ``paidAt``, ``receiptId``, the history's ``paid`` change (``by``:
the PSP, ``source``: ``stand-in`` or ``payment``) and ``paidWith`` (the payment method, the
PSP's fee and the payer, as the payment's outcome named them: ``NoticeArchive.mark_paid``).
The PSP's name is the party registry's, looked up when the list, the export or the receipt is
read (:func:`psp_names`): an id the registry does not have as a PSP, or a registry that cannot
answer, shows the id alone.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.backoffice.principal import Principal
from shared.documents.receipt_pdf import ReceiptContent, ReceiptParty, render_receipt
from shared.notices.ec_index import Document
from shared.notices.ec_index_store import PaidPositions
from shared.notices.identity import position_id
from shared.notices.search import day_start
from shared.parties.models import Party
from shared.parties.users import BackOfficeUsers, User
from shared.platform.errors import DependencyError, Forbidden, Invalid, NotFound

logger = logging.getLogger(__name__)

CSV_PAGE = 200
CSV_COLUMNS = (
    ("noticeCode", "the notice code (nav, 18 digits)"),
    ("iuv", "the IUV"),
    ("debtorFiscalCode", "the debtor's fiscal code"),
    ("debtorName", "the debtor's name"),
    ("description", "what the notice was for"),
    ("amountCents", "the amount paid to the EC, in euro cents (the PSP's fee excluded)"),
    ("paidAt", "when it was paid, ISO 8601 in UTC"),
    ("receiptId", "the receipt's id (the PSP's)"),
    ("psp", "the PSP that took the payment (its id)"),
    ("pspName", "the PSP's name in the party registry (empty when the registry has none)"),
    ("standIn", "true when paid while the EC's station was in stand-in"),
    ("method", "the payment method, pagoPA's code (CP: card, BBT: bank transfer, ...)"),
    ("feeCents", "the PSP's fee, in euro cents, paid by the payer on top of the amount"),
    ("payerFiscalCode", "the payer's fiscal code (empty when the outcome did not name them)"),
    ("payerName", "the payer's name (empty when the outcome did not name it)"),
)
"""The export's columns, in order, with what each holds (docs/backoffice.md)."""

METHODS = {
    "CP": "CP (carta / card)",
    "BBT": "BBT (bonifico / bank transfer)",
    "BP": "BP (bollettino postale / postal slip)",
    "AD": "AD (addebito diretto / direct debit)",
    "PPAL": "PPAL (PayPal)",
    "creditCard": "carta di credito (credit card)",
    "bancomat": "bancomat (debit card)",
    "cash": "contanti (cash)",
    "other": "altro (other)",
}
"""Payment methods the receipt spells out: pagoPA's codes (``stPaymentMethodFee``) and the
node's outcome values (``stPaymentMethod``), both in shared/pagopa/schemas/nodeForPsp.xsd."""


class PaymentRow(BaseModel):
    """One paid notice of the EC."""

    model_config = ConfigDict(populate_by_name=True)

    notice_code: str = Field(alias="noticeCode")
    iuv: str
    debtor_fiscal_code: str = Field(alias="debtorFiscalCode")
    debtor_name: str | None = Field(default=None, alias="debtorName")
    description: str
    amount: int = Field(description="Euro cents.")
    paid_at: str = Field(alias="paidAt", description="ISO 8601, UTC.")
    receipt_id: str | None = Field(default=None, alias="receiptId")
    psp: str | None = Field(default=None, description="The PSP that took the payment (its id).")
    psp_name: str | None = Field(
        default=None,
        alias="pspName",
        description="The PSP's name in the party registry; null when it has none for that id "
        "or could not answer.",
    )
    stand_in: bool = Field(alias="standIn", description="Paid in stand-in.")
    method: str | None = Field(default=None, description="pagoPA's payment method code.")
    fee: int | None = Field(default=None, description="The PSP's fee, euro cents.")
    payer_fiscal_code: str | None = Field(default=None, alias="payerFiscalCode")
    payer_name: str | None = Field(default=None, alias="payerName")


class PaymentList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    items: list[PaymentRow]
    next_cursor: str | None = Field(
        alias="nextCursor", description="Pass as cursor for the next page; null on the last."
    )


def row_of(entry: Document) -> PaymentRow:
    changes: list[Document] = entry.get("history") or []
    paid: Document = next((c for c in reversed(changes) if c.get("action") == "paid"), {})
    paid_with: Document = entry.get("paidWith") or {}
    payer: Document = paid_with.get("payer") or {}
    return PaymentRow(
        notice_code=entry["nav"],
        iuv=entry["iuv"],
        debtor_fiscal_code=entry["entityFiscalCode"],
        debtor_name=entry.get("entityFullName"),
        description=entry.get("description") or "",
        amount=entry["amount"],
        paid_at=entry["paidAt"],
        receipt_id=entry.get("receiptId") or paid.get("receiptId"),
        psp=paid.get("by"),
        stand_in=paid.get("source") == "stand-in",
        method=paid_with.get("method"),
        fee=paid_with.get("fee"),
        payer_fiscal_code=payer.get("fiscalCode"),
        payer_name=payer.get("fullName"),
    )


class Parties(Protocol):
    async def get(self, party_id: str) -> Party:
        """The registry's party; NotFound if it has none."""
        ...


async def psp_names(parties: Parties, ids: Iterable[str | None]) -> dict[str, str]:
    """The registry's names of the PSPs ``ids`` name, each looked up once. A PSP the registry
    does not have (or has in another role) is left out, and so are all when it cannot answer:
    a name is worth a lookup, never a failed page."""

    async def one(psp_id: str) -> tuple[str, str | None]:
        try:
            party = await parties.get(psp_id)
        except NotFound:
            return psp_id, None
        return psp_id, party.name if party.role == "psp" else None

    wanted = sorted({i for i in ids if i})
    try:
        found = await asyncio.gather(*(one(i) for i in wanted))
    except DependencyError as error:
        logger.warning("PSPs' names not read from the registry: %s", error)
        return {}
    return {psp_id: name for psp_id, name in found if name}


def named(row: PaymentRow, names: dict[str, str]) -> PaymentRow:
    return row.model_copy(update={"psp_name": names.get(row.psp or "")})


def bounds(paid_from: date | None, paid_to: date | None) -> tuple[str | None, str | None]:
    """Calendar days in Europe/Rome, both included, as stored times (low included, high not)."""
    if paid_from is not None and paid_to is not None and paid_from > paid_to:
        raise Invalid(
            "paidFrom is after paidTo",
            errors=[{"loc": ["query", "paidFrom"], "type": "range", "msg": "after paidTo"}],
        )
    low = day_start(paid_from) if paid_from else None
    high = day_start(paid_to + timedelta(days=1)) if paid_to else None
    return low, high


class PaidIndex(PaidPositions, Protocol):
    async def get(self, ec: str, doc_id: str) -> Document | None: ...


def receipt_content(entry: Document, psp_name: str | None = None) -> ReceiptContent:
    """A receipt for the EC from what the archive holds of the payment: the payer, the method
    and the PSP's fee as the payment's outcome named them (``paidWith``); what it did not name,
    and the transaction (the PSP's own), print as not available."""
    row = row_of(entry)
    unknown = "n.d. (not available)"
    payer = (
        ReceiptParty(row.payer_fiscal_code, row.payer_name)
        if row.payer_fiscal_code
        else ReceiptParty(unknown)
    )
    return ReceiptContent(
        receipt_id=row.receipt_id or unknown,
        transaction_id=unknown,
        notice_code=row.notice_code,
        ec_name=entry.get("companyName") or entry["paFiscalCode"],
        ec_fiscal_code=entry["paFiscalCode"],
        description=row.description,
        amount=row.amount,
        fee=row.fee or 0,
        psp_id=row.psp or unknown,
        psp_name=psp_name or row.psp or unknown,
        method=METHODS.get(row.method or "", row.method or unknown),
        paid_at=datetime.fromisoformat(row.paid_at),
        debtor=ReceiptParty(row.debtor_fiscal_code, row.debtor_name),
        payer=payer,
        iuv=row.iuv,
        stand_in=row.stand_in,
    )


class BackOfficePayments:
    def __init__(self, users: BackOfficeUsers, index: PaidIndex, parties: Parties) -> None:
        """``parties``: the party registry, for the PSPs' names."""
        self._users = users
        self._index = index
        self._parties = parties

    async def _user(self, principal: Principal) -> User:
        try:
            return await self._users.get(principal.object_id)
        except NotFound:
            raise Forbidden("you are signed in, but no EC has given you access") from None

    async def list(
        self,
        principal: Principal,
        ec: str,
        *,
        paid_from: date | None,
        paid_to: date | None,
        cursor: str | None,
        page_size: int,
    ) -> PaymentList:
        """A page of the EC's paid notices, oldest payment first (viewers and editors)."""
        (await self._user(principal)).role_for(ec)
        low, high = bounds(paid_from, paid_to)
        found = await self._index.paid(ec, low=low, high=high, after=cursor, limit=page_size + 1)
        page = found[:page_size]
        more = len(found) > page_size
        rows = [row_of(e) for e in page]
        names = await psp_names(self._parties, (r.psp for r in rows))
        return PaymentList(
            items=[named(r, names) for r in rows],
            next_cursor=page[-1]["paidKey"] if more and page else None,
        )

    async def receipt_pdf(self, principal: Principal, ec: str, iuv: str) -> bytes:
        """The receipt of the EC's paid position ``iuv`` as a PDF; NotFound unless paid."""
        (await self._user(principal)).role_for(ec)
        entry = await self._index.get(ec, position_id(ec, iuv))
        if entry is None or not entry.get("present") or entry.get("status") != "PAID":
            raise NotFound(f"no paid position {iuv} of {ec}")
        psp = row_of(entry).psp
        names = await psp_names(self._parties, [psp])
        content = receipt_content(entry, names.get(psp or ""))
        return await asyncio.to_thread(render_receipt, content)

    async def export(
        self, principal: Principal, ec: str, *, paid_from: date | None, paid_to: date | None
    ) -> AsyncIterator[bytes]:
        """The export: checks the user first (raises before any byte), then yields the header
        and the rows a page at a time, so the export never holds more than one page."""
        (await self._user(principal)).role_for(ec)
        low, high = bounds(paid_from, paid_to)
        return self._rows(ec, low, high)

    async def _rows(self, ec: str, low: str | None, high: str | None) -> AsyncIterator[bytes]:
        yield _line([name for name, _ in CSV_COLUMNS])
        after: str | None = None
        while True:
            found = await self._index.paid(ec, low=low, high=high, after=after, limit=CSV_PAGE)
            rows = [row_of(e) for e in found]
            names = await psp_names(self._parties, (r.psp for r in rows))
            for row in rows:
                yield _line(
                    [
                        row.notice_code,
                        row.iuv,
                        row.debtor_fiscal_code,
                        row.debtor_name or "",
                        row.description,
                        str(row.amount),
                        row.paid_at,
                        row.receipt_id or "",
                        row.psp or "",
                        names.get(row.psp or "", ""),
                        "true" if row.stand_in else "false",
                        row.method or "",
                        "" if row.fee is None else str(row.fee),
                        row.payer_fiscal_code or "",
                        row.payer_name or "",
                    ]
                )
            if len(found) < CSV_PAGE:
                return
            after = found[-1]["paidKey"]


def _line(values: list[str]) -> bytes:
    out = io.StringIO()
    # a cell a spreadsheet would read as a formula starts with a quote (CSV injection)
    csv.writer(out, lineterminator="\r\n").writerow(
        ["'" + v if v[:1] in ("=", "+", "-", "@") else v for v in values]
    )
    return out.getvalue().encode()
