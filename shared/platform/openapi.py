"""OpenAPI 3.1 for the registered HTTP operations, from their pydantic models."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

Security = Literal["anonymous", "function", "citizen", "party", "aca", "psp", "admin"]

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
    "pspSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "x-signature",
        "description": "t=<unix time>,v1=<hex HMAC-SHA256 of 't.body'>.",
    },
}

_REQUIREMENTS: dict[str, list[dict[str, list[str]]]] = {
    "anonymous": [],
    "function": [{"functionKey": []}],
    "citizen": [{"functionKey": [], "citizenToken": []}],
    "party": [{"functionKey": [], "subscriptionKey": []}],
    "aca": [{"subscriptionKey": []}, {"subscriptionKeyQuery": []}],
    "psp": [{"functionKey": [], "pspSignature": []}],
    "admin": [{"adminKey": []}],
}

_ERRORS = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Payload too large",
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
        responses: dict[str, Any] = {}
        if op.response is not None:
            responses[str(op.status)] = {
                "description": "Success",
                "content": {"application/json": {"schema": ref(op.response, "serialization")}},
            }
        else:
            responses[str(op.status)] = {"description": "Success, no content"}
        codes = set(op.errors) | {500, 503}
        if op.security != "anonymous":
            codes |= {401}
        if op.request is not None:
            codes |= {400, 413, 422}
        problem = aca if op.security == "aca" else rfc7807
        for code in sorted(codes):
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
