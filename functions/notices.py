"""The notice archive's triggers: the ACA write API, reads, bulk uploads, their queue, expiry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.functions as func
from pydantic import BaseModel, Field, RootModel

from functions.backoffice_journal import client_ip
from functions.http import Call, Handler, Reply, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.notices.access import parse_segregation_codes
from shared.notices.bulk_models import (
    BulkAccepted,
    BulkReport,
    FileIdList,
    UploadOperation,
    UploadReport,
    UploadStatus,
)
from shared.notices.models import MAX_UPLOAD_BYTES, DebtPositionResponse, Position, PositionIn
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
        from_=client_ip(call.request),  # for the EC's journal (docs/journal.md)
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


UPLOAD = (
    "upload/aca/debt-positions-service/v2/brokers/{broker}/organizations/{organization}"
    "/debtpositions/file"
)
UPLOADED = UPLOAD + "/{fileId}"
UPLOAD_ERRORS = (400, 403, 413)


async def _upload(call: Call[Any], operation: UploadOperation) -> Reply:
    broker, organization = call.param("broker"), call.param("organization")
    file_id = await call.root.notice_bulks().submit_file(
        call.the_party,
        broker=broker,
        organization=organization,
        operation=operation,
        content_type=call.header("Content-Type"),
        body=call.raw_body,
        now=call.now,
        from_=client_ip(call.request),
    )
    status = f"/api/{UPLOAD}/{file_id}/status".format(broker=broker, organization=organization)
    return Reply(202, headers={"Location": status})


def _upload_endpoint(method: str, summary: str) -> Callable[[Handler], Handler]:
    return endpoint(
        bp,
        UPLOAD,
        method,
        auth="aca",
        roles=ROLES,
        status=202,
        errors=UPLOAD_ERRORS,
        max_body=MAX_UPLOAD_BYTES,
        tags=("notices",),
        summary=f"pagoPA's ACA upload (gpd-4-aca_massive_v2): {summary}; a multipart/form-data "
        "body whose part 'file' is a ZIP of one JSON file; 202 with the Location of its status",
    )


@_upload_endpoint("POST", "create (or update) the positions the file lists")
async def aca_upload_create(call: Call[BaseModel]) -> Reply:
    return await _upload(call, "upsert")


@_upload_endpoint("PUT", "update (or create) the positions the file lists")
async def aca_upload_update(call: Call[BaseModel]) -> Reply:
    return await _upload(call, "upsert")


@_upload_endpoint("DELETE", "invalidate the positions whose IUPDs the file lists")
async def aca_upload_delete(call: Call[BaseModel]) -> Reply:
    return await _upload(call, "delete")


@endpoint(
    bp,
    f"{UPLOADED}/status",
    "GET",
    auth="aca",
    roles=ROLES,
    returns=UploadStatus,
    errors=(403, 404),
    tags=("notices",),
    summary="pagoPA's status of an uploaded file",
)
async def aca_upload_status(call: Call[BaseModel]) -> UploadStatus:
    found = await call.root.notice_bulks().files.upload_status(
        call.the_party,
        broker=call.param("broker"),
        organization=call.param("organization"),
        file_id=call.param("fileId"),
    )
    return UploadStatus.model_validate(found)


@endpoint(
    bp,
    f"{UPLOADED}/report",
    "GET",
    auth="aca",
    roles=ROLES,
    returns=UploadReport,
    errors=(403, 404, 425),
    tags=("notices",),
    summary="pagoPA's report of an uploaded file (425 until every position is processed)",
)
async def aca_upload_report(call: Call[BaseModel]) -> UploadReport:
    found = await call.root.notice_bulks().files.upload_report(
        call.the_party,
        broker=call.param("broker"),
        organization=call.param("organization"),
        file_id=call.param("fileId"),
    )
    return UploadReport.model_validate(found)


@endpoint(
    bp,
    UPLOAD + "s",
    "GET",
    auth="aca",
    roles=ROLES,
    returns=FileIdList,
    errors=(400, 403, 410),
    query={
        "from": "first day, YYYY-MM-DD in Europe/Rome (default: six days before 'to')",
        "to": "last day, YYYY-MM-DD in Europe/Rome (default: today); at most 7 days",
        "size": "files per page, 100-500 (default 100)",
    },
    tags=("notices",),
    summary="pagoPA's list of the files a broker uploaded for an EC (a week at most, within "
    "the last 60 days); the next page's x-continuation-token in the header",
)
async def aca_upload_list(call: Call[BaseModel]) -> Reply:
    params = call.request.params
    found, token = await call.root.notice_bulks().files.upload_list(
        call.the_party,
        broker=call.param("broker"),
        organization=call.param("organization"),
        start=params.get("from"),
        end=params.get("to"),
        size=params.get("size"),
        continuation=call.header("x-continuation-token"),
        now=call.now,
    )
    headers = {"x-continuation-token": token} if token else {}
    return Reply(200, FileIdList.model_validate(found), headers)


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
    root = get_root()
    await root.notice_bulks().process_message(delivery.body, now=root.clock.now())


@bp.timer_trigger(arg_name="timer", schedule="%NOTICES_EXPIRE_SCHEDULE%")
async def notices_expire(timer: func.TimerRequest) -> None:
    """VALID positions past their expirationDate with switchToExpired become EXPIRED."""
    root = get_root()
    await root.notices().expire_due(now=root.clock.now())
