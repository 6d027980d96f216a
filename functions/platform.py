"""The platform's own functions: health, OpenAPI and its docs page, operator routes, the outbox
sweep."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel, Field

from functions.http import (
    CORRELATION_HEADER,
    OPERATIONS,
    WEBHOOKS,
    Call,
    Reply,
    endpoint,
    problem_response,
)
from functions.root import OUTBOX_SWEEP_AGE, get_root
from shared.cashback.settings import check_cashback_periods
from shared.parties.models import PARTY_ID, IssuedKey, Party, PartyIn, RotateKey
from shared.platform import deadletters, failed_work
from shared.platform.clients import get_clients
from shared.platform.errors import Invalid, NotFound
from shared.platform.failed_work import FailedWork
from shared.platform.health import Health, HealthProbe
from shared.platform.openapi import build
from shared.platform.problems import problem_for
from shared.platform.resources import queue_definitions
from shared.platform.static import STATIC_ROOT, StaticFolder, StaticReply
from shared.platform.telemetry import new_correlation_id
from shared.push.settings import check_push_hubs
from shared.wallet.settings import check_wallet_settings

bp = func.Blueprint()
_probe = HealthProbe(
    get_clients,
    extra={
        "push hubs": check_push_hubs,
        "cashback periods": check_cashback_periods,
        "wallet notification URL": check_wallet_settings,
    },
    probes={"cashback files PGP key": lambda: get_root().cashback_files.gnupg.check()},
)


class FailedWorkList(BaseModel):
    items: list[FailedWork]


class DeadLetterList(BaseModel):
    items: list[deadletters.DeadLetter]


class OpenApiDocument(BaseModel):
    openapi: str = Field(description="The OpenAPI 3.1 document of this app.")


@endpoint(
    bp,
    "health",
    "GET",
    auth="anonymous",
    returns=Health,
    errors=(503,),
    summary="Liveness, and readiness of configuration, Cosmos DB and Service Bus",
)
async def health(call: Call[BaseModel]) -> Reply:
    result = await _probe.check()
    return Reply(200 if result.status == "ok" else 503, result)


@endpoint(
    bp,
    "openapi.json",
    "GET",
    auth="anonymous",
    returns=OpenApiDocument,
    summary="This API's OpenAPI 3.1 document",
)
async def openapi(call: Call[BaseModel]) -> Reply:
    return Reply(200, build(OPERATIONS, title="Centro Stella", version="1", webhooks=WEBHOOKS))


# Swagger UI sets inline styles and draws its icons as data: images; every script is a file.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
_docs = StaticFolder(STATIC_ROOT / "swagger-ui", page_headers={"Content-Security-Policy": DOCS_CSP})


# The page and its files are not API operations: registered outside `endpoint`, they stay out
# of the OpenAPI document.
@bp.route(route="docs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def docs_page(req: func.HttpRequest) -> func.HttpResponse:
    """Swagger UI over /api/openapi.json."""
    return await _static(req, _docs.page(req.headers.get("If-None-Match")))


@bp.route(route="docs/{asset}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def docs_asset(req: func.HttpRequest) -> func.HttpResponse:
    """The docs page's scripts, style sheet and icons, from static/swagger-ui."""
    name = str(req.route_params.get("asset", ""))
    return await _static(req, _docs.asset(name, req.headers.get("If-None-Match")))


async def _static(req: func.HttpRequest, reading: Awaitable[StaticReply]) -> func.HttpResponse:
    try:
        reply = await reading
    except NotFound as error:
        cid = new_correlation_id(req.headers.get(CORRELATION_HEADER))
        instance = urlsplit(req.url).path
        return problem_response(problem_for(error, correlation_id=cid, instance=instance), cid)
    return func.HttpResponse(reply.body, status_code=reply.status, headers=reply.headers)


_PARTY_ID = re.compile(PARTY_ID)


def _party_id(call: Call[Any]) -> str:
    # a party id, never "/" or 5,000 characters, before the registry builds a store id of it
    party_id = call.param("partyId")
    if not _PARTY_ID.fullmatch(party_id):
        raise Invalid(
            "a party id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
            "a digit",
            errors=[{"loc": ["path", "partyId"], "type": "pattern", "msg": PARTY_ID}],
        )
    return party_id


@endpoint(
    bp,
    "ops/parties",
    "POST",
    auth="admin",
    body=PartyIn,
    returns=Party,
    summary="Register or update a party",
    tags=("operators",),
)
async def register_party(call: Call[PartyIn]) -> Party:
    return await call.root.parties().register(call.body, now=call.now)


@endpoint(
    bp,
    "ops/parties/{partyId}",
    "GET",
    auth="admin",
    returns=Party,
    errors=(400, 404),
    summary="Read a party",
    tags=("operators",),
)
async def read_party(call: Call[BaseModel]) -> Party:
    return await call.root.parties().get(_party_id(call))


@endpoint(
    bp,
    "ops/parties/{partyId}/keys",
    "POST",
    auth="admin",
    body=RotateKey,
    returns=IssuedKey,
    status=201,
    errors=(400, 404),
    tags=("operators",),
    summary="Issue a new key; the party's older keys expire after the grace period",
)
async def rotate_party_key(call: Call[RotateKey]) -> IssuedKey:
    from datetime import timedelta

    return await call.root.parties().rotate_key(
        _party_id(call), grace=timedelta(seconds=call.body.grace_seconds), now=call.now
    )


_LIMIT = re.compile(r"[0-9]{1,3}")


def _limit(call: Call[BaseModel], default: int = 50, most: int = 500) -> int:
    # a few ASCII digits before int(): 5,000 digits are a ValueError (a 500) and str.isdigit()
    # takes other scripts' digits too
    raw = call.request.params.get("limit")
    if raw is None:
        return default
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= most:
        raise Invalid(
            f"limit must be a whole number from 1 to {most}",
            errors=[{"loc": ["query", "limit"], "type": "range", "msg": f"1 to {most}"}],
        )
    return int(raw)


def _known_queue(name: str) -> str:
    if name not in {q["name"] for q in queue_definitions(get_root().settings)}:
        raise NotFound(f"no queue {name}")
    return name


@endpoint(
    bp,
    "ops/failed-work",
    "GET",
    auth="admin",
    returns=FailedWorkList,
    errors=(400,),
    query={"queue": "only this queue", "limit": "at most this many (1-500)"},
    summary="List failed work, newest first",
    tags=("operators",),
)
async def list_failed_work(call: Call[BaseModel]) -> FailedWorkList:
    queue, limit = call.request.params.get("queue"), _limit(call, most=failed_work.MAX_LIST)
    return FailedWorkList(items=await failed_work.list_items(call.root.failed_work, queue, limit))


@endpoint(
    bp,
    "ops/failed-work/{id}/replay",
    "POST",
    auth="admin",
    returns=FailedWork,
    errors=(400, 404),
    summary="Send a failed message to its queue again",
    tags=("operators",),
)
async def replay_failed_work(call: Call[BaseModel]) -> FailedWork:
    return await failed_work.replay(
        call.root.failed_work, call.root.sender, call.param("id"), now=call.now
    )


@endpoint(
    bp,
    "ops/dead-letters/{queue}",
    "GET",
    auth="admin",
    returns=DeadLetterList,
    errors=(400, 404),
    query={"limit": "at most this many (1-500)"},
    summary="Peek at a queue's dead-lettered messages",
    tags=("operators",),
)
async def list_dead_letters(call: Call[BaseModel]) -> DeadLetterList:
    limit = _limit(call, most=deadletters.MAX_PEEK)
    queue = _known_queue(call.param("queue"))
    return DeadLetterList(items=await deadletters.peek(call.root.clients, queue, limit))


@endpoint(
    bp,
    "ops/dead-letters/{queue}/replay",
    "POST",
    auth="admin",
    returns=DeadLetterList,
    errors=(400, 404),
    query={"limit": "at most this many (1-500)"},
    summary="Move dead-lettered messages back to their queue",
    tags=("operators",),
)
async def replay_dead_letters(call: Call[BaseModel]) -> DeadLetterList:
    limit = _limit(call, 10, most=deadletters.MAX_REPLAY)
    queue = _known_queue(call.param("queue"))
    return DeadLetterList(items=await deadletters.replay(call.root.clients, queue, limit))


@bp.timer_trigger(arg_name="timer", schedule="%OUTBOX_SWEEP_SCHEDULE%")
async def sweep_outboxes(timer: func.TimerRequest) -> None:
    """Publish events left in outboxes (a broker outage, a crash after the write)."""
    root = get_root()
    await asyncio.gather(
        *(box.sweep(now=root.clock.now(), older_than=OUTBOX_SWEEP_AGE) for box in root.outboxes())
    )
