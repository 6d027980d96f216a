"""The back office's payments: the EC's paid notices, a page at a time, and their CSV export
(see :mod:`shared.backoffice.payments`)."""

from __future__ import annotations

import re
from typing import Any

import azure.functions as func
from pydantic import BaseModel

from functions.backoffice import TAGS, _day, _ec, _page_size
from functions.http import Call, Reply, endpoint
from shared.backoffice.payments import PaymentList
from shared.platform.errors import Invalid

bp = func.Blueprint()

PAYMENTS = "bo/v1/ecs/{ec}/payments"
_DAYS = {
    "paidFrom": "First day paid, YYYY-MM-DD (Europe/Rome), included",
    "paidTo": "Last day paid, YYYY-MM-DD (Europe/Rome), included",
}
_IUV = re.compile(r"[A-Za-z0-9]{1,35}")
_CURSOR = re.compile(r"[0-9T:.Z+-]{10,40}\|[A-Za-z0-9_.:~-]{1,255}")


def _cursor(call: Call[Any]) -> str | None:
    raw: str | None = call.request.params.get("cursor")
    if not raw:
        return None
    if not _CURSOR.fullmatch(raw):
        raise Invalid(
            "cursor is the nextCursor of a previous page",
            errors=[{"loc": ["query", "cursor"], "type": "pattern", "msg": "a nextCursor"}],
        )
    return raw


@endpoint(
    bp,
    PAYMENTS,
    "GET",
    auth="backoffice",
    returns=PaymentList,
    errors=(400, 403),
    query={
        **_DAYS,
        "cursor": "The nextCursor of the previous page",
        "pageSize": "Payments per page, 1-100 (default 20)",
    },
    tags=TAGS,
    summary="The EC's paid notices: who paid, when, through which PSP, stand-in or not "
    "(viewers and editors)",
)
async def bo_list_payments(call: Call[BaseModel]) -> PaymentList:
    return await call.root.positions_index.payments.list(
        call.user,
        _ec(call),
        paid_from=_day(call, "paidFrom"),
        paid_to=_day(call, "paidTo"),
        cursor=_cursor(call),
        page_size=_page_size(call),
    )


@endpoint(
    bp,
    PAYMENTS + "/{iuv}/pdf",
    "GET",
    auth="backoffice",
    produces="application/pdf",
    errors=(400, 403, 404),
    tags=TAGS,
    summary="The receipt of one of the EC's paid notices as a PDF, from what the archive holds",
)
async def bo_payment_receipt_pdf(call: Call[BaseModel]) -> Reply:
    ec, iuv = _ec(call), call.param("iuv")
    if not _IUV.fullmatch(iuv):
        raise Invalid(
            "an IUV is 1 to 35 letters and digits",
            errors=[{"loc": ["path", "iuv"], "type": "pattern", "msg": "letters and digits"}],
        )
    pdf = await call.root.positions_index.payments.receipt_pdf(call.user, ec, iuv)
    return Reply(
        200,
        content=pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="ricevuta-{ec}-{iuv}.pdf"'},
    )


@endpoint(
    bp,
    PAYMENTS + "/export",
    "GET",
    auth="backoffice",
    produces="text/csv",
    errors=(400, 403),
    query=_DAYS,
    tags=TAGS,
    summary="The EC's paid notices as CSV for its accounting (columns: docs/backoffice.md)",
)
async def bo_export_payments(call: Call[BaseModel]) -> Reply:
    ec = _ec(call)
    rows = await call.root.positions_index.payments.export(
        call.user, ec, paid_from=_day(call, "paidFrom"), paid_to=_day(call, "paidTo")
    )
    # the service yields a page at a time; the Functions worker sends one body
    content = b"".join([chunk async for chunk in rows])
    disposition = f'attachment; filename="pagamenti-{ec}.csv"'
    return Reply(
        200,
        content=content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )
