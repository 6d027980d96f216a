"""Citizens' receipts: their list, one receipt, and its PDF, rendered once and kept in Blob.

A citizen reads a receipt whose payer or debtor they are (the store files it under both user
ids); any other id, unknown or someone else's, is the same 404, so an answer never tells that
a receipt exists. The PDF is rendered on its first download and stored in the receipts' Blob
container under the receipt's id; later downloads read it back and render nothing. Two first
downloads at once may both render: the first stored blob is kept, and both PDFs are the same
bytes anyway (rendering is deterministic).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContentSettings
from pydantic import BaseModel, ConfigDict, Field

from shared.documents.receipt_pdf import ReceiptContent, ReceiptParty, render_receipt
from shared.payments.receipt_model import Person, Receipt, ReceiptSink
from shared.payments.receipts_store import ReceiptStore
from shared.platform.errors import Invalid, NotFound
from shared.platform.storage import BlobContainer, guarded_blob

__all__ = [
    "AzureReceiptPdfs",
    "ReceiptList",
    "ReceiptOut",
    "ReceiptPdfs",
    "Receipts",
    "receipt_content",
]

DEFAULT_PAGE = 20
_LIMIT = re.compile(r"^[0-9]{1,3}$")
MAX_PAGE = 100
RECEIPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
"""The receipt ids a route accepts: what the store can hold as part of a Cosmos id and a blob
name unchanged; anything else cannot be a receipt (404)."""


class PersonOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    fiscal_code: str = Field(alias="fiscalCode")
    full_name: str | None = Field(default=None, alias="fullName")


class ReceiptOut(BaseModel):
    """A receipt as the citizen reads it (the pseudonymous user ids stay inside)."""

    model_config = ConfigDict(populate_by_name=True)

    receipt_id: str = Field(alias="receiptId")
    transaction_id: str = Field(alias="transactionId")
    notice_code: str = Field(alias="noticeCode")
    ec_fiscal_code: str = Field(alias="ecFiscalCode")
    ec_name: str = Field(alias="ecName")
    iuv: str | None = Field(default=None, alias="iuv")
    description: str
    amount: int = Field(description="What the notice asked, in euro cents.")
    fee: int = Field(description="The PSP's fee, in euro cents.")
    total: int = Field(description="Amount plus fee, in euro cents.")
    psp_id: str = Field(alias="pspId")
    psp_name: str = Field(alias="pspName")
    method: str
    paid_at: str = Field(alias="paidAt", description="When it was paid (ISO 8601, UTC).")
    stand_in: bool = Field(alias="standIn")
    debtor: PersonOut
    payer: PersonOut

    @classmethod
    def of(cls, receipt: Receipt) -> ReceiptOut:
        body = receipt.model_dump(mode="json", by_alias=True)
        for who in ("debtor", "payer"):
            body[who].pop("userId", None)
        return cls.model_validate({**body, "total": receipt.total})


class ReceiptList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    receipts: list[ReceiptOut]
    continuation_token: str | None = Field(
        default=None, alias="continuationToken", description="Pass it back for the next page."
    )


class ReceiptPdfs(Protocol):
    """Where rendered receipts are kept."""

    async def get(self, name: str) -> bytes | None:
        """The PDF stored as ``name``; None if there is none yet."""
        ...

    async def put_once(self, name: str, data: bytes) -> None:
        """Store ``data`` as ``name`` unless a PDF is stored there already (then keep it)."""
        ...


def _person(person: Person) -> ReceiptParty:
    return ReceiptParty(fiscal_code=person.fiscal_code, full_name=person.full_name)


def receipt_content(receipt: Receipt) -> ReceiptContent:
    """What the PDF prints of ``receipt``."""
    return ReceiptContent(
        receipt_id=receipt.receipt_id,
        transaction_id=receipt.transaction_id,
        notice_code=receipt.notice_code,
        ec_name=receipt.ec_name,
        ec_fiscal_code=receipt.ec_fiscal_code,
        description=receipt.description,
        amount=receipt.amount,
        fee=receipt.fee,
        psp_id=receipt.psp_id,
        psp_name=receipt.psp_name,
        method=receipt.method,
        paid_at=receipt.paid_at,
        debtor=_person(receipt.debtor),
        payer=_person(receipt.payer),
        iuv=receipt.iuv,
        stand_in=receipt.stand_in,
    )


class Receipts(ReceiptSink):
    """The receipts' use cases for one citizen at a time (``user_id``, computed at the edge)."""

    def __init__(
        self,
        store: ReceiptStore,
        pdfs: ReceiptPdfs,
        render: Callable[[ReceiptContent], bytes] = render_receipt,
    ) -> None:
        self._store = store
        self._pdfs = pdfs
        self._render = render

    async def record(self, receipt: Receipt) -> None:
        await self._store.record(receipt)

    async def page(
        self, user_id: str, *, limit: str | None = None, continuation: str | None = None
    ) -> ReceiptList:
        size = _page_size(limit)
        found, token = await self._store.list_for(user_id, limit=size, continuation=continuation)
        return ReceiptList(receipts=[ReceiptOut.of(r) for r in found], continuation_token=token)

    async def _find(self, user_id: str, receipt_id: str) -> Receipt:
        if not RECEIPT_ID.match(receipt_id):
            raise NotFound("no such receipt")
        found = await self._store.get_for(user_id, receipt_id)
        if found is None:
            raise NotFound("no such receipt")
        return found

    async def get(self, user_id: str, receipt_id: str) -> ReceiptOut:
        return ReceiptOut.of(await self._find(user_id, receipt_id))

    async def pdf(self, user_id: str, receipt_id: str) -> bytes:
        """The receipt's PDF: the stored one, or rendered now and stored for next time."""
        receipt = await self._find(user_id, receipt_id)
        name = pdf_name(receipt.receipt_id)
        stored = await self._pdfs.get(name)
        if stored is not None:
            return stored
        # CPU work of some milliseconds: in a thread, so the event loop keeps serving
        rendered = await asyncio.to_thread(self._render, receipt_content(receipt))
        await self._pdfs.put_once(name, rendered)
        return rendered


def pdf_name(receipt_id: str) -> str:
    return f"receipts/{receipt_id}.pdf"


def _page_size(limit: str | None) -> int:
    if limit is None or limit == "":
        return DEFAULT_PAGE
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses
    if not _LIMIT.match(limit) or not 1 <= int(limit) <= MAX_PAGE:
        raise Invalid(f"limit must be a whole number from 1 to {MAX_PAGE}")
    return int(limit)


BLOB_TIMEOUT_SECONDS = 10.0


class AzureReceiptPdfs(BlobContainer):
    """:class:`ReceiptPdfs` on one container of the process's shared BlobServiceClient."""

    timeout_seconds = BLOB_TIMEOUT_SECONDS

    async def get(self, name: str) -> bytes | None:
        blob = self._blob(name)
        try:
            async with guarded_blob(self._timeout):
                downloader = await blob.download_blob()
                data: bytes = await downloader.readall()
        except ResourceNotFoundError:
            return None
        return data

    async def put_once(self, name: str, data: bytes) -> None:
        blob = self._blob(name)
        try:
            async with guarded_blob(self._timeout):
                await blob.upload_blob(
                    data,
                    overwrite=False,
                    length=len(data),
                    content_settings=ContentSettings(content_type="application/pdf"),
                )
        except ResourceExistsError:
            return  # another download stored it first: the same bytes
