"""Property-based fuzzing of every operation in /api/openapi.json through the dev host.

Schemathesis generates requests from the document (valid ones and, separately, ones that break
the schema), each sent with the credentials its operation declares (a PSP-signed body for the
PSP's operations). Whatever comes in: never a 5xx, and every answer matches the document
(status code, content type, body schema). Bounded: a few examples per operation and mode.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from local.platform import Platform
from local.tokens import issue_token
from shared.auth.signature import sign
from tests.conftest import ADMIN_KEY, FUNCTION_KEY, Host, fresh_queues, start_host

EXAMPLES = 8
CF = "RSSMRA85T10A562S"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    started = start_host(platform, env=fresh_queues("fuzz"))
    try:
        yield started
    finally:
        started.stop()


class Credentials:
    """The headers an operation's security requirement asks for."""

    def __init__(self, platform: Platform, host: Host) -> None:
        self.platform = platform
        self.host = host
        self.psp_secret = json.loads(host.env["LOCAL_SECRETS"])["psp-demo-signing"]

    def dev_now(self) -> datetime:
        state = self.host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()
        return datetime.fromisoformat(state["now"])

    def headers(self, schemes: set[str], body: bytes | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if "functionKey" in schemes:
            headers["x-functions-key"] = FUNCTION_KEY
        if "adminKey" in schemes:
            headers["x-functions-key"] = ADMIN_KEY
        if "citizenToken" in schemes:
            token = issue_token(
                self.platform.keys.private_pem,
                CF,
                issuer=self.host.env["CITIZEN_JWT_ISSUER"],
                audience=self.host.env["CITIZEN_JWT_AUDIENCE"],
                now=self.dev_now(),
            )
            headers["Authorization"] = f"Bearer {token}"
        if "subscriptionKey" in schemes:
            headers["Ocp-Apim-Subscription-Key"] = self.host.env["DEV_PARTY_KEY_EC"]
        if "pspSignature" in schemes:
            headers["x-signature"] = sign(
                self.psp_secret, body or b"", int(self.dev_now().timestamp())
            )
        return headers


def _schemes(document: dict[str, Any], path: str, method: str) -> set[str]:
    requirements = document["paths"][path][method.lower()].get("security") or []
    return {name for requirement in requirements for name in requirement}


def _send(
    case: Any, credentials: Credentials, schemes: set[str], session: requests.Session, base_url: str
) -> requests.Response:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    body: bytes | None = None
    if "json" in kwargs:  # serialize here, so the PSP signature covers the exact bytes
        body = json.dumps(kwargs.pop("json")).encode()
        kwargs["data"] = body
        kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
    elif isinstance(kwargs.get("data"), bytes):
        body = kwargs["data"]
    kwargs.setdefault("headers", {}).update(credentials.headers(schemes, body))
    kwargs.setdefault("timeout", 30)
    return session.request(**kwargs)


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    schemes: set[str],
    credentials: Credentials,
    session: requests.Session,
    base_url: str,
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        response = _send(case, credentials, schemes, session, base_url)
        case.validate_response(response, checks=CHECKS)

    with contextlib.suppress(Unsatisfiable):  # nothing to break: no parameters, no body
        run()


def test_every_operation_answers_within_its_schema_and_never_5xx(
    platform: Platform, host: Host
) -> None:
    document = host.request("GET", "/api/openapi.json", key=None).json()
    schema = schemathesis.openapi.from_dict(document)
    credentials = Credentials(platform, host)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in document["paths"].values())
    failures: list[str] = []
    with requests.Session() as session:
        for operation in operations:
            schemes = _schemes(document, operation.path, operation.method)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _fuzz(operation, mode, schemes, credentials, session, host.url)
                except (Exception, BaseExceptionGroup) as error:  # collect them all, then report
                    failures.append(
                        f"{operation.method.upper()} {operation.path} "
                        f"({mode.value}): {str(error)[:800]}"
                    )
    assert failures == [], "\n\n".join(failures)
