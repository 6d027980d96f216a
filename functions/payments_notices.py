"""The citizens' notices: their open notices and history from the per-debtor index, and the
queue consumer that keeps the index from the archive's events (see
:mod:`shared.payments.index_service`)."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.payments.index_service import NoticePage
from shared.platform.errors import Invalid
from shared.platform.queue_work import Delivery

bp = func.Blueprint()

NOTICES = "v1/payments/notices"
_QUERY = {
    "continuationToken": "From the previous page, for the next one",
    "limit": "Notices per page, 1-100 (default 20)",
}


def _limit(call: Call[BaseModel]) -> int:
    raw = call.request.params.get("limit")
    if raw is None:
        return 20
    if not raw.isdigit() or len(raw) > 3:
        raise Invalid("limit must be a whole number between 1 and 100")
    return int(raw)


async def _page(call: Call[BaseModel], *, history: bool) -> NoticePage:
    return await call.root.notice_index_parts.index.list(
        call.citizen.fiscal_code,
        history=history,
        now=call.now,
        limit=_limit(call),
        continuation=call.request.params.get("continuationToken"),
    )


@endpoint(
    bp,
    NOTICES,
    "GET",
    auth="citizen",
    returns=NoticePage,
    errors=(400, 401, 503),
    query=_QUERY,
    tags=("payments",),
    summary="The caller's open notices from every creditor institution, newest first, paged",
)
async def payments_notices(call: Call[BaseModel]) -> NoticePage:
    return await _page(call, history=False)


@endpoint(
    bp,
    NOTICES + "/history",
    "GET",
    auth="citizen",
    returns=NoticePage,
    errors=(400, 401, 503),
    query=_QUERY,
    tags=("payments",),
    summary="The caller's paid, invalidated and expired notices, newest first, paged",
)
async def payments_notices_history(call: Call[BaseModel]) -> NoticePage:
    return await _page(call, history=True)


@queue_trigger(bp, "PAYMENTS_NOTICES_QUEUE")
async def payments_notices_index(delivery: Delivery) -> None:
    """The archive's notice events: keep the per-debtor index, announce new notices."""
    await get_root().notice_index_parts.index.take(delivery.body)
