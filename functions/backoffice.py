"""The EC back office: its page and files, its API under /api/bo/v1 (a signed-in user), and the
operators' routes that give users access (docs/backoffice.md)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, cast
from urllib.parse import quote, urlsplit

import azure.functions as func
from pydantic import BaseModel

from functions.backoffice_journal import client_ip, note_sign_in
from functions.http import CORRELATION_HEADER, Call, endpoint, problem_response
from functions.root import get_root
from shared.backoffice.models import BackOfficePosition, Me, PositionList
from shared.backoffice.principal import PRINCIPAL_HEADER, read_principal
from shared.notices.models import Position, Status
from shared.notices.search import MAX_PAGE, PositionFilter
from shared.parties.users import OBJECT_ID, User, UserIn
from shared.platform.errors import Invalid, NotFound, Unauthorized
from shared.platform.problems import problem_for
from shared.platform.static import STATIC_ROOT, StaticFolder, StaticReply
from shared.platform.telemetry import new_correlation_id

bp = func.Blueprint()

BO = "bo/v1/ecs/{ec}/positions"
TAGS = ("back office",)
SIGN_IN = "/.auth/login/aad"
"""The platform's sign-in (the dev host serves its own sign-in page there too)."""

# bootstrap-italia's style sheet uses data: images; every script and style is a file of ours.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_page = StaticFolder(STATIC_ROOT / "backoffice", page_headers={"Content-Security-Policy": PAGE_CSP})


# The page and its files are not API operations: registered outside `endpoint`, they stay out
# of the OpenAPI document.
@bp.route(route="bo", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def backoffice_page(req: func.HttpRequest) -> func.HttpResponse:
    """The back office page; without a signed-in user, a redirect to the sign-in."""
    try:
        read_principal(
            req.headers.get(PRINCIPAL_HEADER), trusted=get_root().settings.platform_auth_enabled
        )
    except Unauthorized:
        back = quote(urlsplit(req.url).path or "/api/bo", safe="/")
        target = f"{SIGN_IN}?post_login_redirect_uri={back}"
        return func.HttpResponse(status_code=302, headers={"Location": target})
    return await _static(req, _page.page(req.headers.get("If-None-Match")))


@bp.route(route="bo/{asset}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def backoffice_asset(req: func.HttpRequest) -> func.HttpResponse:
    """The page's script, style sheets, fonts and icons, from static/backoffice."""
    name = str(req.route_params.get("asset", ""))
    return await _static(req, _page.asset(name, req.headers.get("If-None-Match")))


async def _static(req: func.HttpRequest, reading: Any) -> func.HttpResponse:
    try:
        reply: StaticReply = await reading
    except NotFound as error:
        cid = new_correlation_id(req.headers.get(CORRELATION_HEADER))
        instance = urlsplit(req.url).path
        return problem_response(problem_for(error, correlation_id=cid, instance=instance), cid)
    return func.HttpResponse(reply.body, status_code=reply.status, headers=reply.headers)


# ------------------------------------------------------------------ the API
_EC = re.compile(r"[0-9]{11}")
_NAV = re.compile(r"[0-9]{1,35}")
_STATUSES = ("VALID", "INVALID", "EXPIRED", "PAID")
_SEARCH = {
    "iuv": "the IUV, exactly",
    "nav": "the notice code (18 digits), exactly",
    "debtor": "the debtor's fiscal code or VAT number, exactly",
    "status": "VALID, INVALID, EXPIRED or PAID (as stored: see docs/backoffice.md)",
    "dueFrom": "first due day (YYYY-MM-DD, Europe/Rome), included",
    "dueTo": "last due day (YYYY-MM-DD, Europe/Rome), included",
    "pageSize": f"1 to {MAX_PAGE} (default 20)",
    "cursor": "nextCursor of the previous page",
}


def _ec(call: Call[Any]) -> str:
    ec = call.param("ec")
    if not _EC.fullmatch(ec):
        raise Invalid(
            "an EC's fiscal code is 11 digits",
            errors=[{"loc": ["path", "ec"], "type": "pattern", "msg": "11 digits"}],
        )
    return ec


def _text(call: Call[Any], name: str, most: int = 64) -> str | None:
    value: str | None = call.request.params.get(name)
    if value is None or value == "":
        return None
    if len(value) > most or not value.isascii() or not value.isalnum():
        raise Invalid(
            f"{name} is up to {most} letters and digits",
            errors=[{"loc": ["query", name], "type": "pattern", "msg": "letters and digits"}],
        )
    return value


def _day(call: Call[Any], name: str) -> date | None:
    value = call.request.params.get(name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2099:
        raise Invalid(
            f"{name} is a day, YYYY-MM-DD, from 2000 to 2099",
            errors=[{"loc": ["query", name], "type": "date", "msg": "YYYY-MM-DD"}],
        )
    return day


def _filter(call: Call[Any]) -> PositionFilter:
    status = _text(call, "status", 8)
    if status is not None and status not in _STATUSES:
        raise Invalid(
            "status is VALID, INVALID, EXPIRED or PAID",
            errors=[{"loc": ["query", "status"], "type": "enum", "msg": ", ".join(_STATUSES)}],
        )
    return PositionFilter(
        iuv=_text(call, "iuv", 35),
        nav=_text(call, "nav", 35),
        debtor=_text(call, "debtor", 35),
        status=cast(Status | None, status),
        due_from=_day(call, "dueFrom"),
        due_to=_day(call, "dueTo"),
    )


def _page_size(call: Call[Any]) -> int:
    raw = call.request.params.get("pageSize") or "20"
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise Invalid(
            f"pageSize is a whole number from 1 to {MAX_PAGE}",
            errors=[{"loc": ["query", "pageSize"], "type": "range", "msg": f"1 to {MAX_PAGE}"}],
        )
    return int(raw)


def _cursor(call: Call[Any]) -> str | None:
    raw: str | None = call.request.params.get("cursor")
    if not raw:
        return None
    if len(raw) > 255 or not re.fullmatch(r"[A-Za-z0-9_.:-]+", raw):
        raise Invalid(
            "cursor is the nextCursor of a previous page",
            errors=[{"loc": ["query", "cursor"], "type": "pattern", "msg": "a nextCursor"}],
        )
    return raw


def _nav(call: Call[Any]) -> str:
    nav = call.param("nav")
    if not _NAV.fullmatch(nav):
        raise Invalid(
            "a notice code is digits",
            errors=[{"loc": ["path", "nav"], "type": "pattern", "msg": "digits"}],
        )
    return nav


@endpoint(
    bp,
    "bo/v1/me",
    "GET",
    auth="backoffice",
    returns=Me,
    errors=(403,),
    tags=TAGS,
    summary="The signed-in user, and the ECs and roles the registry gives it",
)
async def bo_me(call: Call[BaseModel]) -> Me:
    me = await call.root.backoffice().me(call.user)
    await note_sign_in(call, me)
    return me


@endpoint(
    bp,
    BO,
    "GET",
    auth="backoffice",
    returns=PositionList,
    errors=(400, 403),
    query=_SEARCH,
    tags=TAGS,
    summary="Search the EC's positions, a page at a time (viewers and editors)",
)
async def bo_search_positions(call: Call[BaseModel]) -> PositionList:
    return await call.root.backoffice().search(
        call.user,
        _ec(call),
        _filter(call),
        cursor=_cursor(call),
        page_size=_page_size(call),
        now=call.now,
    )


@endpoint(
    bp,
    BO,
    "POST",
    auth="backoffice",
    body=BackOfficePosition,
    returns=Position,
    status=201,
    errors=(400, 403, 404, 409, 422),
    tags=TAGS,
    summary="Create a position through the archive (editors)",
)
async def bo_create_position(call: Call[BackOfficePosition]) -> Position:
    ec = _ec(call)
    return await call.root.backoffice().create(
        call.user, ec, call.body, now=call.now, from_=client_ip(call.request)
    )


@endpoint(
    bp,
    BO + "/{nav}",
    "GET",
    auth="backoffice",
    returns=Position,
    errors=(400, 403, 404),
    tags=TAGS,
    summary="A position with its history (viewers and editors)",
)
async def bo_read_position(call: Call[BaseModel]) -> Position:
    return await call.root.backoffice().detail(call.user, _ec(call), _nav(call), now=call.now)


@endpoint(
    bp,
    BO + "/{nav}",
    "PUT",
    auth="backoffice",
    body=BackOfficePosition,
    returns=Position,
    errors=(400, 403, 404, 409, 422),
    tags=TAGS,
    summary="Change a position through the archive (editors)",
)
async def bo_edit_position(call: Call[BackOfficePosition]) -> Position:
    ec, nav = _ec(call), _nav(call)
    return await call.root.backoffice().edit(
        call.user, ec, nav, call.body, now=call.now, from_=client_ip(call.request)
    )


@endpoint(
    bp,
    BO + "/{nav}/invalidate",
    "POST",
    auth="backoffice",
    returns=Position,
    errors=(400, 403, 404, 409, 422),
    tags=TAGS,
    summary="Invalidate a position: the archive's write with amount 0 (editors)",
)
async def bo_invalidate_position(call: Call[BaseModel]) -> Position:
    ec, nav = _ec(call), _nav(call)
    return await call.root.backoffice().invalidate(
        call.user, ec, nav, now=call.now, from_=client_ip(call.request)
    )


# ------------------------------------------------------------------ operators
_OBJECT_ID = re.compile(OBJECT_ID)


def _object_id(call: Call[Any]) -> str:
    object_id = call.param("objectId")
    if not _OBJECT_ID.fullmatch(object_id):
        raise Invalid(
            "an object id is a GUID",
            errors=[{"loc": ["path", "objectId"], "type": "pattern", "msg": OBJECT_ID}],
        )
    return object_id


@endpoint(
    bp,
    "ops/bo-users/{objectId}",
    "PUT",
    auth="admin",
    body=UserIn,
    returns=User,
    errors=(400,),
    tags=("operators",),
    summary="Give a back-office user (an Entra ID object id) its ECs and roles",
)
async def put_bo_user(call: Call[UserIn]) -> User:
    for ec in call.body.ecs:
        if not _EC.fullmatch(ec):
            raise Invalid(
                "an EC's fiscal code is 11 digits",
                status=422,
                errors=[{"loc": ["ecs", ec], "type": "pattern", "msg": "11 digits"}],
            )
    return await call.root.backoffice().users.put(_object_id(call), call.body, now=call.now)


@endpoint(
    bp,
    "ops/bo-users/{objectId}",
    "GET",
    auth="admin",
    returns=User,
    errors=(400, 404),
    tags=("operators",),
    summary="Read a back-office user",
)
async def read_bo_user(call: Call[BaseModel]) -> User:
    return await call.root.backoffice().users.get(_object_id(call))


@endpoint(
    bp,
    "ops/bo-users/{objectId}",
    "DELETE",
    auth="admin",
    errors=(400,),
    tags=("operators",),
    summary="Remove a back-office user: its next request is refused",
)
async def remove_bo_user(call: Call[BaseModel]) -> None:
    await call.root.backoffice().users.remove(_object_id(call))
