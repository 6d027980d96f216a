"""The back office's paper notices: one position's notice as a PDF, or a search's results as a
print job rendered by a queue worker (docs/backoffice.md, "Paper notices")."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel

from functions.backoffice import _SEARCH, BO, TAGS, _ec, _filter, _nav
from functions.http import Call, Reply, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.backoffice.print_jobs import PrintJobOut
from shared.platform.queue_work import Delivery

bp = func.Blueprint()

JOBS = "bo/v1/ecs/{ec}/paper-notices"
_BATCH_QUERY = {k: v for k, v in _SEARCH.items() if k not in ("pageSize", "cursor")}


def _pdf(content: bytes, filename: str) -> Reply:
    return Reply(
        200,
        content=content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@endpoint(
    bp,
    BO + "/{nav}/paper-notice",
    "GET",
    auth="backoffice",
    produces="application/pdf",
    errors=(400, 403, 404, 422),
    tags=TAGS,
    summary="The position's paper notice (AgID pagoPA notice) as a PDF (viewers and editors)",
)
async def bo_paper_notice(call: Call[BaseModel]) -> Reply:
    ec, nav = _ec(call), _nav(call)
    pdf = await call.root.notice_printer().one(call.user, ec, nav, now=call.now)
    return _pdf(pdf, f"avviso-{nav}.pdf")


@endpoint(
    bp,
    JOBS,
    "POST",
    auth="backoffice",
    returns=PrintJobOut,
    status=202,
    errors=(400, 403, 422, 503),
    query=_BATCH_QUERY,
    tags=TAGS,
    summary="Print a search's VALID positions, up to 1,000, in one PDF: a job, answered 202 "
    "with its status route in Location (the notices search's filters; viewers and editors)",
)
async def bo_paper_notices(call: Call[BaseModel]) -> Reply:
    ec = _ec(call)
    job = await call.root.backoffice_parts.print_jobs.submit(
        call.user, ec, _filter(call), now=call.now
    )
    return Reply(202, body=job, headers={"Location": f"/api/bo/v1/ecs/{ec}/paper-notices/{job.id}"})


@endpoint(
    bp,
    JOBS + "/{job}",
    "GET",
    auth="backoffice",
    returns=PrintJobOut,
    errors=(400, 403, 404),
    tags=TAGS,
    summary="A print job: queued, done (with a link to its PDF, valid for 15 minutes) or "
    "failed (with the reason); any user of its EC",
)
async def bo_paper_notices_job(call: Call[BaseModel]) -> PrintJobOut:
    return await call.root.backoffice_parts.print_jobs.status(
        call.user, _ec(call), call.param("job"), now=call.now
    )


@queue_trigger(bp, "BACKOFFICE_PRINT_QUEUE")
async def backoffice_print_jobs(delivery: Delivery) -> None:
    """A print job: render its PDF into its blob, a part at a time."""
    root = get_root()
    await root.backoffice_parts.print_jobs.render(delivery.body, now=root.clock.now())
