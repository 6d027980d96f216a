"""Stand-in payments: the gateway (PSPs and the node), operators' station controls, the
5-minute manager run and the receipts' delivery to ECs."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel

from functions.http import CORRELATION_HEADER, Call, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.pagopa.documents import schema_file, wsdl
from shared.pagopa.faults import PPT_SYSTEM_ERROR
from shared.pagopa.soap import CONTENT_TYPE, soap_fault
from shared.parties.models import Role
from shared.platform.errors import Invalid
from shared.platform.queue_work import Delivery
from shared.platform.telemetry import correlation_id, new_correlation_id
from shared.platform.values import unsafe_character
from shared.standin.channels import ChannelIn, ChannelOut
from shared.standin.models import (
    ActivateIn,
    Activation,
    ForceIn,
    NoticeAnswer,
    NoticeRef,
    OutcomeIn,
    OutcomeOut,
    Station,
    StationList,
)

bp = func.Blueprint()
logger = logging.getLogger(__name__)

API = "standin/v1"
OPS = "ops/standin/stations"
CALLERS: tuple[Role, ...] = ("psp", "node")
REFUSALS = (403, 404, 409, 410, 422, 502, 504)
OPERATOR = "x-operator"
"""Who an operator's change is recorded as (the admin key names nobody)."""
OPERATOR_NAME = 100
"""Characters at most of that name."""


def _operator(call: Call[Any]) -> str:
    named = call.header(OPERATOR)
    if named is None:
        return "operator"
    if not 1 <= len(named) <= OPERATOR_NAME or unsafe_character(named) is not None:
        raise Invalid(f"{OPERATOR}: 1 to {OPERATOR_NAME} characters, no NUL, valid Unicode")
    return named


@endpoint(
    bp,
    f"{API}/verify",
    "POST",
    auth="party",
    roles=CALLERS,
    body=NoticeRef,
    returns=NoticeAnswer,
    errors=REFUSALS,
    max_body=4096,
    tags=("stand-in",),
    summary="A notice's amount, due date and description: from the EC's station, or "
    "from the archive while the station is in stand-in",
)
async def standin_verify(call: Call[NoticeRef]) -> NoticeAnswer:
    return await call.root.standin_gateway().verify(call.the_party, call.body, now=call.now)


@endpoint(
    bp,
    f"{API}/activate",
    "POST",
    auth="party",
    roles=CALLERS,
    body=ActivateIn,
    returns=Activation,
    errors=REFUSALS,
    max_body=4096,
    tags=("stand-in",),
    summary="Lock a notice for a payment: a token valid for STANDIN_TOKEN_MINUTES (the "
    "same idempotencyKey returns the same token)",
)
async def standin_activate(call: Call[ActivateIn]) -> Activation:
    return await call.root.standin_gateway().activate(call.the_party, call.body, now=call.now)


@endpoint(
    bp,
    f"{API}/outcome",
    "POST",
    auth="party",
    roles=CALLERS,
    body=OutcomeIn,
    returns=OutcomeOut,
    errors=(403, 404, 409),
    max_body=4096,
    tags=("stand-in",),
    summary="A payment's outcome: OK marks the notice PAID and queues its receipt for "
    "the EC; KO frees the notice. Idempotent by receiptId",
)
async def standin_outcome(call: Call[OutcomeIn]) -> OutcomeOut:
    return await call.root.standin_gateway().outcome(call.the_party, call.body, now=call.now)


@endpoint(
    bp,
    OPS,
    "GET",
    auth="admin",
    returns=StationList,
    tags=("operators",),
    summary="Stations the manager knows, their mode and the figures behind it",
)
async def ops_standin_stations(call: Call[BaseModel]) -> StationList:
    return StationList(stations=await call.root.standin_manager().list())


@endpoint(
    bp,
    f"{OPS}/{{id}}",
    "GET",
    auth="admin",
    returns=Station,
    errors=(404,),
    tags=("operators",),
    summary="A station: mode, last evaluation, probes, history of entries and exits",
)
async def ops_standin_station(call: Call[BaseModel]) -> Station:
    return await call.root.standin_manager().get(call.param("id"))


@endpoint(
    bp,
    f"{OPS}/{{id}}/force",
    "PUT",
    auth="admin",
    body=ForceIn,
    returns=Station,
    errors=(404,),
    max_body=4096,
    tags=("operators",),
    summary="Force a station into or out of stand-in (wins until released)",
)
async def ops_standin_force(call: Call[ForceIn]) -> Station:
    return await call.root.standin_manager().force(
        call.param("id"), call.body, by=_operator(call), now=call.now
    )


@endpoint(
    bp,
    f"{OPS}/{{id}}/force",
    "DELETE",
    auth="admin",
    returns=Station,
    errors=(400, 404),
    tags=("operators",),
    summary="Release a forced mode: the entry and exit rules decide again",
)
async def ops_standin_release(call: Call[BaseModel]) -> Station:
    return await call.root.standin_manager().release(
        call.param("id"), by=_operator(call), now=call.now
    )


@bp.timer_trigger(arg_name="timer", schedule="%STANDIN_EVALUATE_SCHEDULE%")
async def standin_evaluate(timer: func.TimerRequest) -> None:
    """Probe stations in stand-in; apply the entry and exit rules."""
    root = get_root()
    await root.standin_manager().evaluate(now=root.clock.now())


@queue_trigger(bp, "STANDIN_RECEIPTS_QUEUE", max_attempts="STANDIN_RECEIPT_MAX_ATTEMPTS")
async def standin_receipts(delivery: Delivery) -> None:
    """A recorded receipt delivered to its EC's station (rescheduled while it is down)."""
    root = get_root()
    await root.standin_receipts().deliver(delivery.body, now=root.clock.now())


# ------------------------------------------------------------------ the node's SOAP primitives
# SOAP is no JSON API: registered outside `endpoint`, these stay out of the OpenAPI document.
# Anonymous at the Functions level: the node authenticates each message by its own credentials.
NODE_FOR_PSP = "node/v1/nodeForPsp"
SOAP_HEADERS = {"Content-Type": CONTENT_TYPE}
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "Cache-Control": "max-age=300"}


@bp.route(route=NODE_FOR_PSP, methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def node_for_psp(req: func.HttpRequest) -> func.HttpResponse:
    """POST: verifyPaymentNotice, activatePaymentNoticeV2, sendPaymentOutcomeV2 (SOAP 1.1).
    GET: the WSDL, its address this very URL."""
    cid = new_correlation_id(req.headers.get(CORRELATION_HEADER))
    if req.method == "GET":
        here = urlsplit(req.url)._replace(query="", fragment="").geturl()
        served = wsdl("nodeForPsp.wsdl", here, schemas=here.rsplit("/", 1)[0] + "/schemas/")
        return func.HttpResponse(served, status_code=200, headers=XML_HEADERS)
    token = correlation_id.set(cid)
    try:
        root = get_root()
        reply = await root.standin_node().answer(req.get_body(), now=root.clock.now())
        return func.HttpResponse(reply.body, status_code=reply.status, headers=SOAP_HEADERS)
    except Exception:  # a SOAP client reads a SOAP Fault, never a problem+json or a trace
        logger.exception("nodeForPsp failed (correlation id %s)", cid)
        body = soap_fault(f"{PPT_SYSTEM_ERROR}: correlation id {cid}", code="Server")
        return func.HttpResponse(body, status_code=500, headers=SOAP_HEADERS)
    finally:
        correlation_id.reset(token)


@bp.route(route="node/v1/schemas/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def node_schemas(req: func.HttpRequest) -> func.HttpResponse:
    """The XSDs the WSDL imports."""
    name = str(req.route_params.get("name", ""))
    if not name.endswith(".xsd"):
        return func.HttpResponse(status_code=404)
    try:
        return func.HttpResponse(schema_file(name), status_code=200, headers=XML_HEADERS)
    except KeyError:
        return func.HttpResponse(status_code=404)


@endpoint(
    bp,
    "ops/standin/channels/{id}",
    "PUT",
    auth="admin",
    body=ChannelIn,
    returns=ChannelOut,
    errors=(400, 422),
    max_body=4096,
    tags=("operators",),
    summary="Create or replace a PSP channel of the node's SOAP primitives (its password hashed)",
)
async def ops_standin_channel(call: Call[ChannelIn]) -> ChannelOut:
    channel_id = call.param("id")
    if not 1 <= len(channel_id) <= 35 or not channel_id.replace("_", "").replace("-", "").isalnum():
        raise Invalid("a channel id is 1 to 35 letters, digits, '_' or '-'")
    return await call.root.standin_channels().put(channel_id, call.body, now=call.now)
