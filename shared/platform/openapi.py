"""OpenAPI 3.1 for the registered HTTP operations, from their pydantic models.

Every error response is a problem document (RFC 7807) except one: the 401 of an operation behind
a host key (function or admin level). The Functions host checks that key before the app runs and
answers a missing or wrong one with an empty 401, so that response documents no body schema
(docs/architecture.md, "What each layer answers").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

Security = Literal[
    "anonymous", "function", "citizen", "party", "sender", "aca", "psp", "admin", "backoffice"
]

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "functionKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-functions-key",
        "description": "The function key (or `code` in the query).",
    },
    "adminKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-functions-key",
        "description": "The host's admin (master) key: operators only.",
    },
    "citizenToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The app backend's token for a citizen; sub = fiscal code.",
    },
    "subscriptionKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Ocp-Apim-Subscription-Key",
        "description": "A party's key from the party registry.",
    },
    "subscriptionKeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "subscription-key",
        "description": "A party's key from the party registry, in the query (pagoPA's ACA "
        "contract allows either).",
    },
    "sessionToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The bearer token the wallet handed the payment gateway when it opened "
        "the onboarding session: valid for that session's notifications only, expiring.",
    },
    "signedIn": {
        "type": "apiKey",
        "in": "cookie",
        "name": "AppServiceAuthSession",
        "description": "EC staff signed in with Entra ID by the platform's authentication (App "
        "Service authentication), which holds the session in this cookie and passes the user to "
        "the app as X-MS-CLIENT-PRINCIPAL; locally, the dev host's sign-in page "
        "(/.auth/login/dev) sets it.",
    },
}

_REQUIREMENTS: dict[str, list[dict[str, list[str]]]] = {
    "anonymous": [],
    "function": [{"functionKey": []}],
    "citizen": [{"functionKey": [], "citizenToken": []}],
    # machines with their own credential: that credential alone (anonymous Functions routes)
    "party": [{"subscriptionKey": []}],
    "sender": [{"functionKey": [], "subscriptionKey": []}],
    "psp": [{"sessionToken": []}],
    "aca": [{"subscriptionKey": []}, {"subscriptionKeyQuery": []}],
    "admin": [{"adminKey": []}],
    "backoffice": [{"signedIn": []}],
}

_HOST_401 = (
    "The Functions host's own answer, before the app runs: 401 with an EMPTY body (no content "
    "type) when the {key} is missing or wrong"
)
_OWN_401 = {
    "citizen": "the bearer token is missing, expired or invalid",
    "party": "the subscription key is missing or unknown",
    "psp": "the session token is missing, expired or not this session's",
}


def unauthorized(security: Security, *, checks_own: bool = False) -> dict[str, Any]:
    """The 401 response of an operation behind a host key: it has no body schema, because the
    Functions host answers a missing or wrong key with an empty body; the app's own 401 (a
    credential it checks itself) is a problem document, said in the description.

    ``checks_own``: a "function" operation that checks a credential of its own too.
    """
    key = "admin (master) key" if security == "admin" else "function key"
    text = _HOST_401.format(key=key)
    own = _OWN_401.get(security) or (
        "a credential it checks itself is refused" if checks_own else ""
    )
    if own:
        text += f"; the app's own 401, a problem document (application/problem+json), when {own}"
    return {"description": text + "."}


_ERRORS = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Payload too large",
    429: "Too many requests from this caller; see Retry-After",
    422: "Request not acceptable",
    500: "Unexpected error",
    502: "A partner's system failed or refused",
    504: "A partner's system did not answer",
    503: "A dependency is unavailable; see Retry-After",
}


class ProblemDetails(BaseModel):
    """RFC 7807 problem document."""

    type: str
    title: str
    status: int
    detail: str
    correlationId: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
    code: str | None = None


class AcaProblem(BaseModel):
    """pagoPA's ``ProblemJson`` (the error body of its ACA contract), with our correlation id."""

    title: str
    status: int
    detail: str
    correlationId: str
    errors: list[dict[str, Any]] | None = None


@dataclass
class Operation:
    """One HTTP operation: what the OpenAPI document says about it."""

    name: str
    method: str
    route: str
    security: Security
    summary: str = ""
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    query: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    upload: str | None = None
    """The media type of a body that is a file, not JSON (an acquirer's encrypted file)."""
    produces: str | None = None
    """The media type of a success that is a file, not JSON (a receipt's PDF)."""


@dataclass
class Webhook:
    """A call this app makes to a partner's API (OpenAPI 3.1 ``webhooks``): the partner
    implements it, e.g. an EC's station for the stand-in gateway."""

    name: str
    summary: str
    request: type[BaseModel]
    responses: dict[int, tuple[str, type[BaseModel]]]
    tags: tuple[str, ...] = ()


def build(
    operations: list[Operation], *, title: str, version: str, webhooks: list[Webhook] | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (and the partner calls ``webhooks``)."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ProblemDetails, "serialization"),
        (AcaProblem, "serialization"),
    ]
    for hook in webhooks or []:
        models.append((hook.request, "serialization"))
        models.extend((model, "validation") for _, model in hook.responses.values())
    for op in operations:
        if op.request is not None:
            models.append((op.request, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    keys, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = defs.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(keys[(model, mode)])  # type: ignore[index]

    rfc7807 = {"application/problem+json": {"schema": ref(ProblemDetails, "serialization")}}
    aca = {"application/json": {"schema": ref(AcaProblem, "serialization")}}
    paths: dict[str, dict[str, Any]] = {}
    for op in sorted(operations, key=lambda o: (o.route, o.method)):
        path = "/api/" + re.sub(r"\{(\w+)(:[^}]*)?\??\}", r"{\1}", op.route)
        item: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary or op.name,
            "security": _REQUIREMENTS[op.security],
            "tags": list(op.tags),
        }
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in re.findall(r"\{(\w+)", op.route)
        ]
        params += [
            {
                "name": n,
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": d,
            }
            for n, d in op.query.items()
        ]
        if params:
            item["parameters"] = params
        if op.request is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.request, "validation")}},
            }
        if op.upload is not None:
            item["requestBody"] = {
                "required": True,
                "content": {op.upload: {"schema": {"type": "string", "format": "binary"}}},
            }
        responses: dict[str, Any] = {}
        if op.produces is not None:
            responses[str(op.status)] = {
                "description": "Success",
                "content": {op.produces: {"schema": {"type": "string", "format": "binary"}}},
            }
        elif op.response is not None:
            responses[str(op.status)] = {
                "description": "Success",
                "content": {"application/json": {"schema": ref(op.response, "serialization")}},
            }
        else:
            responses[str(op.status)] = {"description": "Success, no content"}
        codes = set(op.errors) | {500, 503}
        if op.security != "anonymous":
            codes |= {401}
        if op.request is not None or op.upload is not None:
            codes |= {400, 413, 422}
        problem = aca if op.security == "aca" else rfc7807
        for code in sorted(codes):
            # a signed-in user's route has no host key: its 401 is the app's own problem document
            if code == 401 and op.security not in ("anonymous", "backoffice"):
                responses["401"] = unauthorized(op.security, checks_own=401 in op.errors)
                continue
            responses[str(code)] = {"description": _ERRORS.get(code, "Error"), "content": problem}
        item["responses"] = responses
        paths.setdefault(path, {})[op.method.lower()] = item
    hooks: dict[str, Any] = {}
    for hook in webhooks or []:
        hooks[hook.name] = {
            "post": {
                "operationId": hook.name,
                "summary": hook.summary,
                "tags": list(hook.tags),
                "security": [{"subscriptionKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref(hook.request, "serialization")}},
                },
                "responses": {
                    str(code): {
                        "description": text,
                        "content": {"application/json": {"schema": ref(model, "validation")}},
                    }
                    for code, (text, model) in sorted(hook.responses.items())
                },
            }
        }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }
    if hooks:
        document["webhooks"] = hooks
    return document
