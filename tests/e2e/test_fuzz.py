"""Property-based fuzzing of every operation in /api/openapi.json through the dev host.

Schemathesis generates requests from the document (valid ones and, separately, ones that break
the schema), each sent with the credentials its operation's group holds: a citizen's token, the
EC's key on ACA, the acquirer's on its transactions, the PSP's on the stand-in gateway, a
PSP-signed body on the wallet's gateway notifications, the admin key on operators' routes. Then
the same requests without the host's key (the Functions host's empty 401) and without the
app's own credential (the app's 401 problem). Whatever comes in: never a 5xx, and every answer
matches the document (status code, content type, body schema). Bounded: a few examples per
operation and mode.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
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

from local import devauth
from local.platform import Platform
from local.tokens import issue_token
from tests.conftest import ADMIN_KEY, FUNCTION_KEY, Host, fresh_queues, start_host

EXAMPLES = 8
WITHOUT_CREDENTIALS = 2
"""Examples per operation sent without a credential (the refusal comes before the body)."""
CF = "RSSMRA85T10A562S"
PARTY_KEYS = {
    # path prefix: (operation group, the setting holding its demo party's key)
    "/api/aca/": ("ACA", "DEV_PARTY_KEY_EC"),
    "/api/upload/aca/": ("ACA", "DEV_PARTY_KEY_EC"),
    "/api/v1/cashback/": ("acquirer", "DEV_PARTY_KEY_ACQUIRER"),  # transactions, tokens, files
    "/api/standin/": ("PSP", "DEV_PARTY_KEY_PSP"),
    "/api/v1/push/notifications": ("senders", "DEV_PARTY_KEY_SENDER"),
    "/api/tests/": ("the test app's", "DEV_PARTY_KEY_EC"),  # tests/app.py's own functions
}
GROUPS = {
    "citizen",
    "ACA",
    "acquirer",
    "PSP",
    "PSP gateway",
    "operators",
    "senders",
    "back office",
}
OWN_CREDENTIAL = {
    "citizenToken": "Authorization",
    "subscriptionKey": "Ocp-Apim-Subscription-Key",
    "sessionToken": "Authorization",
    "signedIn": "Cookie",
}
"""The header of each credential the app checks itself (the host checks only its keys)."""
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

    def dev_now(self) -> datetime:
        state = self.host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()
        return datetime.fromisoformat(state["now"])

    def headers(self, schemes: set[str], body: bytes | None, path: str) -> dict[str, str]:
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
            headers["Ocp-Apim-Subscription-Key"] = self.host.env[party_key(path)[1]]
        if "signedIn" in schemes:
            # the demo editor's session from the dev host's sign-in (the platform's cookie)
            headers["Cookie"] = f"{devauth.COOKIE}={devauth.session_cookie(devauth.DEMO_EDITOR)}"
        if "sessionToken" in schemes:
            # No session of the fuzzed ids exists: every such call must be a documented refusal.
            headers["Authorization"] = "Bearer fuzz-not-a-session-token"
        return headers


def party_key(path: str) -> tuple[str, str]:
    """(group, key setting) of an operation behind a party key: a new group must say its key."""
    found = [value for prefix, value in PARTY_KEYS.items() if path.startswith(prefix)]
    assert found, f"{path}: which party's key? (add its group to PARTY_KEYS)"
    return found[0]


def _schemes(document: dict[str, Any], path: str, method: str) -> set[str]:
    requirements = document["paths"][path][method.lower()].get("security") or []
    return {name for requirement in requirements for name in requirement}


def group(schemes: set[str], path: str) -> str:
    if "adminKey" in schemes:
        return "operators"
    if "citizenToken" in schemes:
        return "citizen"
    if "subscriptionKey" in schemes:
        return party_key(path)[0]
    if "sessionToken" in schemes:
        return "PSP gateway"
    if "signedIn" in schemes:
        return "back office"
    return "senders" if "functionKey" in schemes else "public"


@dataclass(frozen=True)
class Refusal:
    """A request sent without a credential, and the 401 it must get."""

    name: str
    drop: str  # the header left out
    host_401: bool  # the host's empty 401, not the app's problem
    admin_as_function: bool = False  # the function key where the admin key is needed


def refusals(schemes: set[str]) -> list[Refusal]:
    if "adminKey" in schemes:
        return [
            Refusal("no admin key", "x-functions-key", host_401=True),
            Refusal("the function key", "", host_401=True, admin_as_function=True),
        ]
    if "signedIn" in schemes:  # no host key: the app's own 401 when nobody is signed in
        return [Refusal("no signed-in user", "Cookie", host_401=False)]
    if "functionKey" not in schemes:
        return []
    found = [Refusal("no function key", "x-functions-key", host_401=True)]
    found += [
        Refusal(f"no {scheme}", header, host_401=False)
        for scheme, header in OWN_CREDENTIAL.items()
        if scheme in schemes
    ]
    return found


def _send(
    case: Any,
    credentials: Credentials,
    schemes: set[str],
    session: requests.Session,
    base_url: str,
    refusal: Refusal | None = None,
) -> requests.Response:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    body: bytes | None = None
    if "json" in kwargs:  # serialize here, so the PSP signature covers the exact bytes
        body = json.dumps(kwargs.pop("json")).encode()
        kwargs["data"] = body
        kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
    elif isinstance(kwargs.get("data"), bytes):
        body = kwargs["data"]
    headers = kwargs.setdefault("headers", {})
    headers.update(credentials.headers(schemes, body, case.operation.path))
    if refusal is not None:
        headers.pop(refusal.drop, None)
        if refusal.admin_as_function:
            headers["x-functions-key"] = FUNCTION_KEY
    kwargs.setdefault("timeout", 30)
    kwargs["allow_redirects"] = False  # the operation's own answer (a documented 302) is checked
    return session.request(**kwargs)


def _check_refusal(response: requests.Response, refusal: Refusal) -> None:
    assert response.status_code == 401, (refusal.name, response.status_code, response.text)
    if refusal.host_401:  # the Functions host's UnauthorizedResult
        assert response.content == b"", (refusal.name, response.text)
        assert "Content-Type" not in response.headers, refusal.name
    else:  # the app's own: a problem document
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.json()["correlationId"], response.text


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    schemes: set[str],
    credentials: Credentials,
    session: requests.Session,
    base_url: str,
    refusal: Refusal | None = None,
) -> None:
    @settings(
        max_examples=EXAMPLES if refusal is None else WITHOUT_CREDENTIALS,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        response = _send(case, credentials, schemes, session, base_url, refusal)
        case.validate_response(response, checks=CHECKS)
        if refusal is not None:
            _check_refusal(response, refusal)

    with contextlib.suppress(Unsatisfiable):  # nothing to break: no parameters, no body
        run()


@pytest.fixture(scope="module")
def document(host: Host) -> dict[str, Any]:
    found: dict[str, Any] = host.request("GET", "/api/openapi.json", key=None).json()
    return found


@pytest.fixture(scope="module")
def operations(document: dict[str, Any]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(document)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == sum(len(item) for item in document["paths"].values())
    groups = {group(_schemes(document, op.path, op.method), op.path) for op in found}
    assert groups >= GROUPS, f"no operation of {GROUPS - groups}"
    return found


def _failure(operation: Any, what: str, error: BaseException) -> str:
    return f"{operation.method.upper()} {operation.path} ({what}): {str(error)[:800]}"


def test_every_operation_answers_within_its_schema_and_never_5xx(
    platform: Platform, host: Host, document: dict[str, Any], operations: list[Any]
) -> None:
    credentials = Credentials(platform, host)
    failures: list[str] = []
    with requests.Session() as session:
        for operation in operations:
            schemes = _schemes(document, operation.path, operation.method)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _fuzz(operation, mode, schemes, credentials, session, host.url)
                except (Exception, BaseExceptionGroup) as error:  # collect them all, then report
                    failures.append(_failure(operation, mode.value, error))
    assert failures == [], "\n\n".join(failures)


def test_every_missing_credential_is_the_documented_401(
    platform: Platform, host: Host, document: dict[str, Any], operations: list[Any]
) -> None:
    credentials = Credentials(platform, host)
    failures: list[str] = []
    tried = 0
    with requests.Session() as session:
        for operation in operations:
            schemes = _schemes(document, operation.path, operation.method)
            for refusal in refusals(schemes):
                tried += 1
                try:
                    _fuzz(
                        operation,
                        GenerationMode.POSITIVE,
                        schemes,
                        credentials,
                        session,
                        host.url,
                        refusal,
                    )
                except (Exception, BaseExceptionGroup) as error:
                    failures.append(_failure(operation, refusal.name, error))
    assert failures == [], "\n\n".join(failures)
    assert tried > len(operations)  # every operation but the public ones, most of them twice
