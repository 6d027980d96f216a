"""The back office's paper notices: one position's notice, or a search's results, as a PDF
(docs/backoffice.md, "Paper notices")."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel

from functions.backoffice import _SEARCH, BO, TAGS, _ec, _filter, _nav
from functions.http import Call, Reply, endpoint

bp = func.Blueprint()

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
    "bo/v1/ecs/{ec}/paper-notices",
    "GET",
    auth="backoffice",
    produces="application/pdf",
    errors=(400, 403, 422),
    query=_BATCH_QUERY,
    tags=TAGS,
    summary="The paper notices of a search's VALID positions in one PDF, up to 1,000 "
    "(the notices search's filters; viewers and editors)",
)
async def bo_paper_notices(call: Call[BaseModel]) -> Reply:
    ec = _ec(call)
    pdf = await call.root.notice_printer().batch(call.user, ec, _filter(call), now=call.now)
    return _pdf(pdf, f"avvisi-{ec}.pdf")
