"""The notice archive's triggers: the ACA write API, reads, bulk uploads, their queue, expiry."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import BaseModel, Field, RootModel

from functions.http import Call, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.notices.models import (
    MAX_UPLOAD_BYTES,
    BulkAccepted,
    BulkReport,
    DebtPositionResponse,
    Position,
    PositionIn,
)
from shared.notices.service import parse_segregation_codes
from shared.parties.models import Role
from shared.platform.queue_work import Delivery

bp = func.Blueprint()

ACA = "aca/v1"
OPS = "ops/notices"
ROLES: tuple[Role, ...] = ("ec", "intermediary")
SEGREGATION = {
    "segregationCodes": "comma-separated two-digit codes: narrows the segregation "
    "codes the caller acts on for this request"
}
POSITION = "/positions/{paFiscalCode}/{nav}"


def _codes(call: Call[Any]) -> list[str] | None:
    return parse_segregation_codes(call.request.params.get("segregationCodes"))


@endpoint(
    bp,
    f"{ACA}/paCreatePosition",
    "POST",
    auth="aca",
    roles=ROLES,
    body=PositionIn,
    decoder=PositionIn.from_json,
    returns=DebtPositionResponse,
    errors=(400, 403, 404, 409, 422),
    max_body=64 * 1024,
    invalid_status=400,
    query=SEGREGATION,
    tags=("notices",),
    summary="pagoPA's ACA paCreatePosition: create, update (amount > 0) or invalidate "
    "(amount 0) a debt position",
)
async def aca_create_position(call: Call[PositionIn]) -> DebtPositionResponse:
    return await call.root.notices().publish(
        call.the_party, call.body, segregation_codes=_codes(call), now=call.now
    )


@endpoint(
    bp,
    f"{ACA}{POSITION}",
    "GET",
    auth="aca",
    roles=ROLES,
    returns=Position,
    errors=(400, 403, 404),
    tags=("notices",),
    summary="A position, for its EC or a party acting for it",
)
async def aca_read_position(call: Call[BaseModel]) -> Position:
    return await call.root.notices().read(
        call.the_party, call.param("paFiscalCode"), call.param("nav"), now=call.now
    )


class PositionUpload(RootModel[list[PositionIn]]):
    """A JSON array of positions (or the same objects as NDJSON, one per line)."""


@endpoint(
    bp,
    f"{ACA}/positions/bulk",
    "POST",
    auth="aca",
    roles=ROLES,
    returns=BulkAccepted,
    status=202,
    errors=(400, 403, 413),
    max_body=MAX_UPLOAD_BYTES,
    query=SEGREGATION,
    tags=("notices",),
    documents=PositionUpload,
    summary="Up to 50,000 positions (20 MB) as a JSON array or NDJSON, written in the "
    "background; follow the report",
)
async def aca_bulk_upload(call: Call[BaseModel]) -> BulkAccepted:
    return await call.root.notice_bulks().submit(
        call.the_party,
        call.raw_body,
        segregation_codes=_codes(call),
        now=call.now,
        report_url=f"/api/{ACA}/bulk/{{bulk_id}}",
    )


@endpoint(
    bp,
    f"{ACA}/bulk/{{id}}",
    "GET",
    auth="aca",
    roles=ROLES,
    returns=BulkReport,
    errors=(400, 403, 404),
    tags=("notices",),
    summary="A bulk upload's report: accepted, written, rejected lines and why",
)
async def aca_bulk_report(call: Call[BaseModel]) -> BulkReport:
    return await call.root.notice_bulks().report(call.param("id"), party=call.the_party)


@endpoint(
    bp,
    f"{OPS}{POSITION}",
    "GET",
    auth="admin",
    returns=Position,
    errors=(400, 404),
    tags=("operators",),
    summary="Any position of the archive",
)
async def ops_read_position(call: Call[BaseModel]) -> Position:
    return await call.root.notices().get(
        call.param("paFiscalCode"), call.param("nav"), now=call.now
    )


@endpoint(
    bp,
    f"{OPS}/bulk/{{id}}",
    "GET",
    auth="admin",
    returns=BulkReport,
    errors=(400, 404),
    tags=("operators",),
    summary="Any bulk upload's report",
)
async def ops_bulk_report(call: Call[BaseModel]) -> BulkReport:
    return await call.root.notice_bulks().report(call.param("id"), party=None)


class Rekeyed(BaseModel):
    moved: int = Field(description="Positions moved to their IUPD.")
    merged: int = Field(
        description="Positions whose IUPD already held one: the one with the newest write (or "
        "the PAID one) was kept."
    )
    remaining: bool = Field(description="Whether more are left: call again.")


@endpoint(
    bp,
    f"{OPS}/rekey",
    "POST",
    auth="admin",
    returns=Rekeyed,
    tags=("operators",),
    summary="Move a batch of positions stored under their nav to their IUPD (a one-off "
    "migration; idempotent)",
)
async def ops_rekey_positions(call: Call[BaseModel]) -> Rekeyed:
    return Rekeyed.model_validate(await call.root.notices().rekey())


@queue_trigger(bp, "NOTICES_QUEUE")
async def notices_bulk_chunk(delivery: Delivery) -> None:
    """One chunk of a bulk upload: its lines written, its result recorded once."""
    await get_root().notice_bulks().process_message(delivery.body)


@bp.timer_trigger(arg_name="timer", schedule="%NOTICES_EXPIRE_SCHEDULE%")
async def notices_expire(timer: func.TimerRequest) -> None:
    """VALID positions past their expirationDate with switchToExpired become EXPIRED."""
    root = get_root()
    await root.notices().expire_due(now=root.clock.now())
