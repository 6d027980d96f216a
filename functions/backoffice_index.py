"""The back office's EC-scoped positions index: the queue consumer that keeps it from the
archive's events, and the operator's rebuild of one EC (see
:mod:`shared.notices.ec_index_service`)."""

from __future__ import annotations

import re

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.notices.ec_index_service import RebuildReport
from shared.platform.errors import Invalid
from shared.platform.queue_work import Delivery

bp = func.Blueprint()

_EC = re.compile(r"[0-9]{11}")


@queue_trigger(bp, "BACKOFFICE_POSITIONS_QUEUE")
async def backoffice_positions_index(delivery: Delivery) -> None:
    """The archive's notice events: keep the EC-scoped positions index."""
    await get_root().positions_index.index.take(delivery.body)


@endpoint(
    bp,
    "ops/bo-index/{ecFiscalCode}/rebuild",
    "POST",
    auth="admin",
    returns=RebuildReport,
    errors=(400, 503),
    tags=("operators",),
    summary="Index every position the archive holds for one EC (positions written before "
    "the back office's index existed); safe beside the index's consumer",
)
async def rebuild_bo_index(call: Call[BaseModel]) -> RebuildReport:
    ec = call.param("ecFiscalCode")
    if not _EC.fullmatch(ec):
        raise Invalid(
            "an EC's fiscal code is 11 digits",
            errors=[{"loc": ["path", "ecFiscalCode"], "type": "pattern", "msg": "11 digits"}],
        )
    return await call.root.positions_index.index.rebuild(ec)
