"""The receipts' HTTP triggers: a citizen's receipts, one receipt, and its PDF."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, Reply, endpoint
from shared.payments.receipts_api import ReceiptList, ReceiptOut

bp = func.Blueprint()

RECEIPTS = "v1/payments/receipts"
ONE = RECEIPTS + "/{receiptId}"


async def _user(call: Call[Any]) -> str:
    """The caller's pseudonymous user id, as the wallet computes it: receipts are filed by it."""
    return await call.root.user_ids().of(call.citizen.fiscal_code)


@endpoint(
    bp,
    RECEIPTS,
    "GET",
    auth="citizen",
    returns=ReceiptList,
    errors=(400,),
    query={
        "limit": "receipts per page, 1-100 (default 20)",
        "continuationToken": "from the previous page, for the next one",
    },
    tags=("payments",),
    summary="The caller's receipts (payer or debtor), newest first, paged",
)
async def payments_receipts(call: Call[BaseModel]) -> ReceiptList:
    params = call.request.params
    return await call.root.receipts().page(
        await _user(call), limit=params.get("limit"), continuation=params.get("continuationToken")
    )


@endpoint(
    bp,
    ONE,
    "GET",
    auth="citizen",
    returns=ReceiptOut,
    errors=(404,),
    tags=("payments",),
    summary="One of the caller's receipts (404 for anyone else's)",
)
async def payments_receipt(call: Call[BaseModel]) -> ReceiptOut:
    return await call.root.receipts().get(await _user(call), call.param("receiptId"))


@endpoint(
    bp,
    ONE + "/pdf",
    "GET",
    auth="citizen",
    produces="application/pdf",
    errors=(404,),
    tags=("payments",),
    summary="One of the caller's receipts as a PDF (rendered once, then served from storage)",
)
async def payments_receipt_pdf(call: Call[BaseModel]) -> Reply:
    receipt_id = call.param("receiptId")
    pdf = await call.root.receipts().pdf(await _user(call), receipt_id)
    disposition = f'inline; filename="ricevuta-{receipt_id}.pdf"'
    return Reply(
        200, content=pdf, media_type="application/pdf", headers={"Content-Disposition": disposition}
    )
