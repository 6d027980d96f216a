"""The HTTP edge of every trigger: auth, body decoding, problem responses, correlation ids.

:func:`endpoint` registers a thin handler on a blueprint. The handler gets a :class:`Call`
(already authenticated, body already validated) and returns a pydantic model, ``None`` (204) or
a :class:`Reply`. Errors of :mod:`~shared.platform.errors` become RFC 7807 problems here and
nowhere else, or pagoPA's ``ProblemJson`` on the routes of its ACA contract (``auth="aca"``:
the subscription key alone, in the header or the ``subscription-key`` query parameter, with no
function key: docs/aca-contract.md).
Every operation is recorded in :data:`OPERATIONS` for ``/api/openapi.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel, ValidationError

from functions.root import Root, get_root
from shared.auth.citizen import Citizen
from shared.backoffice.principal import PRINCIPAL_HEADER, Principal, read_principal
from shared.parties.models import Party, Role
from shared.parties.service import SUBSCRIPTION_KEY_HEADER, SUBSCRIPTION_KEY_QUERY
from shared.platform.clock import current_clock
from shared.platform.errors import Invalid, PayloadTooLarge, Unauthorized
from shared.platform.openapi import Operation, Security, Webhook
from shared.platform.problems import Problem, aca_problem, problem_for
from shared.platform.telemetry import correlation_id, new_correlation_id
from shared.platform.values import decode_json

logger = logging.getLogger(__name__)

B = TypeVar("B", bound=BaseModel)
CORRELATION_HEADER = "x-correlation-id"
DEFAULT_MAX_BODY = 64 * 1024
OPERATIONS: list[Operation] = []
WEBHOOKS: list[Webhook] = []
"""Calls this app makes to partners' APIs, documented beside its own operations."""

# Machines that hold their own credential (a party key, a gateway's session token) reach anonymous
# Functions routes checked by that credential alone: no key of ours is ever handed to them.
# Every other route needs the function key (the app backend, the senders) or the admin key.
_AUTH_LEVELS = {
    "anonymous": func.AuthLevel.ANONYMOUS,
    "party": func.AuthLevel.ANONYMOUS,
    "psp": func.AuthLevel.ANONYMOUS,
    "admin": func.AuthLevel.ADMIN,
    # the ACA contract's caller holds a subscription key and nothing else: no function key
    "aca": func.AuthLevel.ANONYMOUS,
    # EC staff signed in by the platform's authentication, which lets anonymous requests through
    "backoffice": func.AuthLevel.ANONYMOUS,
}


@dataclass
class Call(Generic[B]):
    """One authenticated, decoded request."""

    request: func.HttpRequest
    body: B
    now: datetime
    correlation_id: str
    verified_citizen: Citizen | None = None
    """Who the bearer token names, once verified; None on routes without citizen auth."""
    party: Party | None = None
    principal: Principal | None = None
    """The signed-in back-office user, on routes with ``auth="backoffice"``."""

    @property
    def root(self) -> Root:
        """The process's composition root (built on first use; it reads the settings)."""
        return get_root()

    def param(self, name: str) -> str:
        return str(self.request.route_params[name])

    @property
    def raw_body(self) -> bytes:
        return self.request.get_body()

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        return None if value is None else str(value)

    @property
    def citizen(self) -> Citizen:
        """The calling citizen, on routes with ``auth="citizen"`` (elsewhere a programming
        error)."""
        assert self.verified_citizen is not None, "endpoint is not behind citizen auth"
        return self.verified_citizen

    @property
    def the_party(self) -> Party:
        assert self.party is not None, "endpoint is not behind party auth"
        return self.party

    @property
    def user(self) -> Principal:
        assert self.principal is not None, "endpoint is not behind back-office auth"
        return self.principal


@dataclass
class Reply:
    """A response other than "200 with this model": ``content`` is a body that is not JSON
    (a PDF), sent as ``media_type``."""

    status: int
    body: BaseModel | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    media_type: str = "application/octet-stream"


class NoBody(BaseModel):
    """Stands for "this endpoint takes no body"."""


Handler = Callable[[Call[Any]], Awaitable[BaseModel | Reply | None]]


def endpoint(
    bp: func.Blueprint,
    route: str,
    method: str,
    *,
    auth: Security,
    body: type[BaseModel] | None = None,
    returns: type[BaseModel] | None = None,
    status: int = 200,
    roles: tuple[Role, ...] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    summary: str = "",
    errors: tuple[int, ...] = (),
    query: dict[str, str] | None = None,
    tags: tuple[str, ...] = (),
    invalid_status: int = 422,
    documents: type[BaseModel] | None = None,
    decoder: Callable[[bytes], BaseModel] | None = None,
    upload: str | None = None,
    produces: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the HTTP function ``route`` (under /api) for ``method``.

    ``auth``: ``citizen`` (function key + bearer token), ``party`` (a party key alone, of one of
    ``roles``), ``sender`` (function key + the key of a party of role sender), ``psp`` (the
    gateway's per-session bearer token alone, which the handler verifies), ``function``,
    ``admin`` or ``anonymous``.

    ``invalid_status``: the status of a body that is JSON but not the schema (422; 400 where a
    public contract says so, as ACA's does). ``documents``: the body's schema for the OpenAPI
    document when the handler parses ``call.raw_body`` itself (bulk uploads). ``decoder``: see
    :func:`decode`. ``upload``: the media type of a body that is a file the handler reads from
    ``call.raw_body`` (documented as binary). ``produces``: the media type of a success that
    is a file (the handler returns a :class:`Reply` with ``content``), documented as binary.
    """

    def register(handler: Handler) -> Handler:
        OPERATIONS.append(
            Operation(
                name=handler.__name__,
                method=method,
                route=route,
                security=auth,
                summary=summary,
                request=body or documents,
                response=returns,
                status=status,
                errors=errors,
                query=query or {},
                tags=tags,
                upload=upload,
                produces=produces,
            )
        )

        async def trigger(req: func.HttpRequest) -> func.HttpResponse:
            return await _serve(
                req,
                handler,
                auth=auth,
                body=body,
                status=status,
                roles=roles,
                max_body=max_body,
                invalid_status=invalid_status,
                decoder=decoder,
            )

        trigger.__name__ = handler.__name__
        trigger.__qualname__ = handler.__qualname__
        trigger.__doc__ = handler.__doc__
        level = _AUTH_LEVELS.get(auth, func.AuthLevel.FUNCTION)
        bp.route(route=route, methods=[method], auth_level=level)(trigger)
        return handler

    return register


async def _serve(
    req: func.HttpRequest,
    handler: Handler,
    *,
    auth: Security,
    body: type[BaseModel] | None,
    status: int,
    roles: tuple[Role, ...] | None,
    max_body: int,
    invalid_status: int = 422,
    decoder: Callable[[bytes], BaseModel] | None = None,
) -> func.HttpResponse:
    cid = new_correlation_id(req.headers.get(CORRELATION_HEADER))
    token = correlation_id.set(cid)
    try:
        now = current_clock().now()
        call: Call[Any] = Call(request=req, body=NoBody(), now=now, correlation_id=cid)
        if auth == "citizen":
            call.verified_citizen = await call.root.citizen_tokens().verify(
                req.headers.get("Authorization"), now=now
            )
        elif auth in ("party", "sender"):
            call.party = await call.root.parties().authenticate(
                req.headers.get(SUBSCRIPTION_KEY_HEADER),
                now=now,
                roles=("sender",) if auth == "sender" else roles,
            )
        elif auth == "psp" and not _bearer(req.headers.get("Authorization")):
            # the handler verifies the session token; an anonymous route still says 401 first
            raise Unauthorized("missing the session's bearer token")
        elif auth == "backoffice":
            call.principal = read_principal(
                req.headers.get(PRINCIPAL_HEADER),
                trusted=call.root.settings.platform_auth_enabled,
            )
        elif auth == "aca":
            key = req.headers.get(SUBSCRIPTION_KEY_HEADER) or req.params.get(SUBSCRIPTION_KEY_QUERY)
            call.party = await call.root.parties().authenticate(key, now=now, roles=roles)
        if body is not None:
            call.body = decode(
                req.get_body(),
                body,
                max_body=max_body,
                invalid_status=invalid_status,
                decoder=decoder,
            )
        result = await handler(call)
        return _encode(result, status, cid)
    except Exception as error:  # every error becomes a problem response, here only
        if auth == "aca":
            return problem_response(aca_problem(problem_for(error, correlation_id=cid)), cid)
        instance = urlsplit(req.url).path
        return problem_response(problem_for(error, correlation_id=cid, instance=instance), cid)
    finally:
        correlation_id.reset(token)


def _bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None without one."""
    scheme, _, token = (header or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def bearer_token(call: Call[Any]) -> str | None:
    """The caller's bearer token (on ``auth="psp"`` routes, the gateway's session token)."""
    return _bearer(call.header("Authorization"))


def decode(
    raw: bytes,
    model: type[B],
    *,
    max_body: int = DEFAULT_MAX_BODY,
    invalid_status: int = 422,
    decoder: Callable[[bytes], BaseModel] | None = None,
) -> B:
    """Validate a JSON body; 413 past ``max_body``, 400 if not JSON or if it holds what no field
    may take (a number beyond 64 bits or not finite, a NUL, a lone surrogate: see
    :func:`~shared.platform.values.decode_json`), ``invalid_status`` (422) if not the schema.

    ``decoder``: how a published contract parses its body instead, an empty one included (it
    raises Invalid when the body is absent or not JSON, and ValidationError when it is not the
    schema)."""
    if len(raw) > max_body:
        raise PayloadTooLarge(f"the body is larger than {max_body} bytes")
    if not raw.strip() and decoder is None:  # a contract's decoder says what no body is
        raise Invalid("a JSON body is required")
    # Two parses of a body of at most ``max_body`` bytes (tens of microseconds; routes without
    # a body never come here): the bounded decoder refuses what pydantic's parser lets through
    # (NUL, 1e400 as infinity, integers beyond 64 bits), and the model validates the JSON itself,
    # in JSON mode, as every model of the app expects. Such a body is a 400 on every route,
    # naming the fields when the model names them too.
    hostile: Invalid | None = None
    try:
        if decoder is None:
            decode_json(raw)
    except Invalid as refused:
        hostile = refused
    try:
        body = (
            model.model_validate_json(raw)
            if decoder is None
            else model.model_validate(decoder(raw))
        )
    except ValidationError as error:
        errors = error.errors(include_input=False, include_url=False)
        # pydantic reports text that is not JSON (bad syntax, bad UTF-8, nesting past its
        # limit) as a lone ``json_invalid`` error, which is a 400, not a schema mismatch.
        if any(e["type"] == "json_invalid" for e in errors):
            raise Invalid("the body is not valid JSON") from None
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
        if hostile is not None:
            raise Invalid(hostile.detail, errors=details) from None
        raise Invalid(
            "the body does not match the schema", status=invalid_status, errors=details
        ) from None
    if hostile is not None:
        raise hostile
    return body


def _encode(result: BaseModel | Reply | None, status: int, cid: str) -> func.HttpResponse:
    headers = {CORRELATION_HEADER: cid}
    if isinstance(result, Reply):
        headers.update(result.headers)
        if result.content is not None:
            return func.HttpResponse(
                result.content,
                status_code=result.status,
                headers=headers,
                mimetype=result.media_type,
            )
        status, result_body = result.status, result.body
    else:
        result_body = result
    if result_body is None:
        return func.HttpResponse(status_code=204 if status == 200 else status, headers=headers)
    if isinstance(result_body, BaseModel):
        payload = result_body.model_dump_json(by_alias=True, exclude_none=False)
    else:
        payload = json.dumps(result_body, default=str)
    return func.HttpResponse(
        payload, status_code=status, headers=headers, mimetype="application/json"
    )


def problem_response(problem: Problem, cid: str) -> func.HttpResponse:
    headers = {CORRELATION_HEADER: cid, **problem.headers}
    return func.HttpResponse(
        json.dumps(problem.body),
        status_code=problem.status,
        headers=headers,
        mimetype=problem.media_type,
    )
