"""pagoPA's ACA contract, from the project's own description of it
(``shared/notices/contract/aca.json``, written from pagoPA's published specs: see
docs/aca-contract.md), against the dev host for the demo EC.

Schemathesis generates requests that follow the description (and, apart, ones that break it).
Every answer must be one the description lists, of its content type and schema, never a 5xx;
a spec-valid ``paCreatePosition`` body is never a 400, and its status is the one pagoPA's
semantics give, predicted here from the requests sent so far:

- amount 0 for a position that is not there, or no body (the spec leaves it optional): 422;
  a position INVALID (or PAID): 409;
- a nav that another position of the EC already holds: 409;
- what the archive will not take although the spec allows it (docs/aca-contract.md,
  "Deviations"): 422;
- otherwise 200, and the answer is the position as sent (the wall-clock expirationDate without
  its offset, the nav the position was created with).

The upload routes (gpd-4-aca_massive_v2) are generated too, and a file in pagoPA's format is
accepted (202, Location), then its status and report follow the description's schemas.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schwifty import IBAN

from local.platform import DEMO_EC, DEMO_IBAN, Platform
from local.process import ROOT
from tests.conftest import Host, fresh_queues, start_host, wait_for

DESCRIPTION = ROOT / "shared" / "notices" / "contract" / "aca.json"
CREATE = "/aca/v1/paCreatePosition"
POSITIVE_EXAMPLES = 150
NEGATIVE_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
TEXT_FIELDS = ("paFiscalCode", "entityFiscalCode", "entityFullName", "iuv", "description", "nav")


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    started = start_host(platform, env=fresh_queues("aca"))
    try:
        yield started
    finally:
        started.stop()


def description_for_the_demo_ec() -> dict[str, Any]:
    """The description, its ``paFiscalCode`` narrowed to the demo EC (still spec-valid)."""
    document: dict[str, Any] = json.loads(DESCRIPTION.read_text())
    narrowed = copy.deepcopy(document)
    request = narrowed["components"]["schemas"]["NewDebtPositionRequest"]
    request["properties"]["paFiscalCode"] = {"type": "string", "enum": [DEMO_EC]}
    return narrowed


# ------------------------------------------------------------------ what pagoPA's rules say
@dataclass
class Archive:
    """What the archive holds after the requests sent so far, as pagoPA's rules make it."""

    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    navs: dict[str, str] = field(default_factory=dict)
    """Navs that are not "3" + iuv, and the IUV of the position holding each."""

    def expect(self, body: Any, query: dict[str, Any]) -> tuple[int, str]:
        """The status pagoPA's semantics (and the documented deviations) give ``body``."""
        if not isinstance(body, dict):  # the spec leaves the body optional
            return 422, "no body"
        narrowed = query.get("segregationCodes")
        if narrowed is not None:
            codes = narrowed.split(",")
            nav = body.get("nav", "3" + body["iuv"])
            carried = [code_of(body["iuv"])] + ([code_of(nav[1:])] if nav[:1] == "3" else [])
            if any(code not in codes for code in carried):
                return 409, "a segregation code outside the request's segregationCodes"
        refused = archive_refusal(body)
        if refused:
            return 422, refused
        iuv, amount = body["iuv"], body["amount"]
        nav = body.get("nav", "3" + iuv)
        current = self.positions.get(iuv)
        if current is None:
            if amount == 0:
                return 422, "amount 0 for a position that is not there"
            if nav != "3" + iuv and self.navs.get(nav, iuv) != iuv:
                return 409, f"the nav {nav!r} is another position's"
            return 200, "created"
        if current["status"] in ("INVALID", "PAID"):
            return 409, f"the position is {current['status']}"
        return 200, "invalidated" if amount == 0 else "updated"

    def apply(self, body: dict[str, Any], status: int) -> None:
        if status != 200:
            return
        iuv = body["iuv"]
        nav = body.get("nav", "3" + iuv)
        if iuv not in self.positions:
            self.positions[iuv] = {"nav": nav}
            if nav != "3" + iuv:
                self.navs[nav] = iuv
        self.positions[iuv]["status"] = "INVALID" if body["amount"] == 0 else "VALID"


def code_of(identifier: str) -> str | None:
    """The segregation code an IUV (or a nav past its aux digit 3) carries: two digits."""
    code = identifier[:2]
    return code if len(code) == 2 and code.isascii() and code.isdigit() else None


def archive_refusal(body: dict[str, Any]) -> str | None:
    """Why the archive refuses (422) a body the spec allows; None when it takes it."""
    for name in TEXT_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and ("\x00" in value or not _encodes(value)):
            return f"{name} holds a NUL or a lone surrogate"
    moment = datetime.fromisoformat(body["expirationDate"].replace("z", "Z"))
    try:
        year = moment.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not (2000 <= year <= 2099 and 2000 <= moment.year <= 2099):
        return "expirationDate is outside 2000-2099 (as sent, or in UTC)"
    for name in ("iban", "postalIban"):
        if name in body:
            try:
                IBAN(body[name], validate_bban=False)
            except ValueError:
                return f"{name} is not an IBAN (someone else's check: schwifty)"
    nav = body.get("nav")
    if nav is not None and nav.startswith("3") and nav != "3" + body["iuv"]:
        return "a nav with aux digit 3 that is not 3 + iuv"
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_the_answer(body: dict[str, Any], answer: dict[str, Any], archive: Archive) -> None:
    """A 200 is the position as sent (the nav: the one it was created with)."""
    for name in ("paFiscalCode", "entityType", "entityFiscalCode", "entityFullName", "iuv"):
        assert answer[name] == body[name], name
    assert (answer["amount"], answer["description"]) == (body["amount"], body["description"])
    assert answer["switchToExpired"] == body.get("switchToExpired", False)
    assert answer["nav"] == archive.positions[body["iuv"]]["nav"]
    sent = datetime.fromisoformat(body["expirationDate"].replace("z", "Z"))
    assert datetime.fromisoformat(answer["expirationDate"]) == sent.replace(tzinfo=None)
    if body["amount"] == 0:
        assert answer["status"] == "INVALID"
    elif body.get("switchToExpired", False):  # a date already past reads EXPIRED at once
        assert answer["status"] in ("VALID", "EXPIRED")
    else:
        assert answer["status"] == "VALID"
    for name in ("iban", "postalIban"):
        if name in body:
            assert answer[name] == body[name], name


# ------------------------------------------------------------------ sending
def send(case: Any, host: Host, session: requests.Session) -> requests.Response:
    """The case as a client built from the spec sends it, with the demo EC's key (the key a
    case was generated with is replaced: the contract's security is not what is under test)."""
    kwargs = case.as_transport_kwargs(base_url=host.url + "/api")
    headers = {
        k: v
        for k, v in (kwargs.pop("headers", None) or {}).items()
        if k.lower() != "ocp-apim-subscription-key"
    }
    headers["Ocp-Apim-Subscription-Key"] = host.env["DEV_PARTY_KEY_EC"]
    params = dict(kwargs.pop("params", None) or {})
    params.pop("subscription-key", None)
    kwargs.setdefault("timeout", 30)
    return session.request(headers=headers, params=params, **kwargs)


def run(strategy: Any, examples: int, test: Any, *explicit: Any) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def each(case: Any) -> None:
        test(case)

    for case in explicit:
        each = example(case=case)(each)

    with contextlib.suppress(Unsatisfiable):
        each()


# ------------------------------------------------------------------ the tests
def test_spec_valid_positions_are_answered_as_pagopas_rules_say(host: Host) -> None:
    schema = schemathesis.openapi.from_dict(description_for_the_demo_ec())
    operation = schema[CREATE]["POST"]
    archive = Archive()
    seen: dict[int, int] = {}
    with requests.Session() as session:

        def test(case: Any) -> None:
            response = send(case, host, session)
            case.validate_response(response, checks=CHECKS)
            body: Any = case.body
            expected, why = archive.expect(body, case.query or {})
            assert response.status_code == expected, (why, body, response.text)
            if expected == 200:
                archive.apply(body, 200)
                check_the_answer(body, response.json(), archive)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1

        # generated bodies can all be refusals (a random run once drew only 409s and 422s), so
        # one new position the archive takes is always among the examples
        fresh = {
            "paFiscalCode": DEMO_EC,
            "entityType": "F",
            "entityFiscalCode": "RSSMRA80A01H501U",
            "entityFullName": "Mario Rossi",
            "iuv": f"01{uuid.uuid4().int % 10**15:015d}",
            "amount": 1250,
            "description": "TARI 2026",
            "expirationDate": "2030-06-30T10:15:30Z",
        }
        run(
            operation.as_strategy(GenerationMode.POSITIVE),
            POSITIVE_EXAMPLES,
            test,
            operation.Case(body=fresh, query={}, media_type="application/json"),
        )
    # the run reached every branch of the rules, not only refusals
    assert {200, 422} <= set(seen), seen


def values_the_archive_takes(tag: str) -> dict[str, Any]:
    """The description for the demo EC, a few of its fields narrowed to spec-valid values the
    archive takes (dates within 2000-2099, IBANs with valid check digits) and to a handful of
    IUVs and navs, so that writes meet the positions earlier writes made: updates,
    invalidations, INVALID positions, navs another position holds."""
    document = description_for_the_demo_ec()
    del document["paths"][CREATE]["post"]["parameters"]
    properties = document["components"]["schemas"]["NewDebtPositionRequest"]["properties"]
    properties["expirationDate"] = {
        "type": "string",
        "enum": [
            "2026-12-31T23:00:00+01:00",
            "2030-06-30T10:15:30.250Z",
            "2099-12-31T23:59:59Z",
            "2000-01-01T00:00:00-05:00",
        ],
    }
    properties["iban"] = {"type": "string", "enum": [DEMO_IBAN, "IT42L1234512345123456789012"]}
    properties["postalIban"] = {"type": "string", "enum": [DEMO_IBAN]}
    properties["iuv"] = {"type": "string", "enum": [f"01{tag}{i}" for i in range(4)] + [f"X{tag}"]}
    properties["nav"] = {
        "type": "string",
        "enum": [f"0{tag}", f"N-{tag}", f"301{tag}0", f"302{tag}"],
    }
    return document


def test_writes_meet_earlier_positions_as_pagopas_rules_say(host: Host) -> None:
    tag = uuid.uuid4().hex[:12]
    schema = schemathesis.openapi.from_dict(values_the_archive_takes(tag))
    operation = schema[CREATE]["POST"]
    archive = Archive()
    seen: dict[tuple[int, str], int] = {}
    with requests.Session() as session:

        def test(case: Any) -> None:
            response = send(case, host, session)
            case.validate_response(response, checks=CHECKS)
            body: Any = case.body
            expected, why = archive.expect(body, case.query or {})
            assert response.status_code == expected, (why, body, response.text)
            if expected == 200:
                archive.apply(body, 200)
                check_the_answer(body, response.json(), archive)
            seen[(expected, why)] = seen.get((expected, why), 0) + 1

        run(operation.as_strategy(GenerationMode.POSITIVE), POSITIVE_EXAMPLES, test)
    reached = {why for _, why in seen}
    assert reached >= {
        "created",
        "updated",
        "invalidated",
        "the position is INVALID",
        "amount 0 for a position that is not there",
    }, seen


def test_the_rules_pagopa_defines_one_request_after_another(host: Host) -> None:
    """The semantics by name: create, update, the same IUV with another nav, invalidate, then
    409 for an INVALID position, 422 for amount 0 on an absent one, 404 for an unknown EC."""
    key = {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_EC"]}
    iuv = f"01{datetime.now(UTC):%m%d%H%M%S%f}"[:17]
    body = {
        "paFiscalCode": DEMO_EC,
        "entityType": "G",
        "entityFiscalCode": "01234567890",
        "entityFullName": "ACME",
        "iuv": iuv,
        "amount": 100,
        "description": "COSAP",
        "expirationDate": "2030-01-31T23:00:00+01:00",
    }
    url = host.url + "/api" + CREATE

    def post(**changes: Any) -> requests.Response:
        return requests.post(url, json={**body, **changes}, headers=key, timeout=30)

    created = post()
    assert (created.status_code, created.json()["nav"]) == (200, "3" + iuv)
    assert created.json()["expirationDate"] == "2030-01-31T23:00"
    other_nav = post(amount=200, nav="0" + iuv[:17])
    assert (other_nav.status_code, other_nav.json()["nav"], other_nav.json()["amount"]) == (
        200,
        "3" + iuv,
        200,
    )
    assert post(amount=0).json()["status"] == "INVALID"
    for amount in (300, 0):
        refused = post(amount=amount)
        assert refused.status_code == 409
        assert refused.headers["Content-Type"].startswith("application/json")
        assert set(refused.json()) >= {"title", "status", "detail"}
    assert post(iuv=iuv[:-1] + "x", amount=0).status_code == 422
    assert post(paFiscalCode="80000000009").status_code == 404
    by_query = requests.post(
        url,
        json={**body, "iuv": iuv[:-1] + "q"},
        params={"subscription-key": host.env["DEV_PARTY_KEY_EC"]},
        timeout=30,
    )
    assert by_query.status_code == 200  # the key in the query, and no function key at all


def test_requests_that_break_the_description_are_4xx_within_it(host: Host) -> None:
    # without its security requirement: send() puts the demo EC's key in every request, so a
    # case whose only break was its key (a clean run drew one) was a valid request answered 200
    document = description_for_the_demo_ec()
    del document["security"]
    schema = schemathesis.openapi.from_dict(document)
    operation = schema[CREATE]["POST"]
    with requests.Session() as session:

        def test(case: Any) -> None:
            response = send(case, host, session)
            case.validate_response(response, checks=CHECKS)
            assert 400 <= response.status_code < 500, response.text

        run(operation.as_strategy(GenerationMode.NEGATIVE), NEGATIVE_EXAMPLES, test)


# ------------------------------------------------------------------ the upload routes
FILE = (
    "/upload/aca/debt-positions-service/v2/brokers/{broker-code}/organizations/"
    "{organization-fiscal-code}/debtpositions/file"
)
UPLOAD_EXAMPLES = 15


def description_of_the_demo_ecs_uploads() -> dict[str, Any]:
    """The description, the upload paths' broker and EC narrowed to the demo EC (which is its
    own broker): so requests reach the file, not the 403 of another broker."""
    document = description_for_the_demo_ec()
    for path, item in document["paths"].items():
        if not path.startswith("/upload/"):
            continue
        for operation in item.values():
            for parameter in operation["parameters"]:
                if parameter["name"] in ("broker-code", "organization-fiscal-code"):
                    parameter["schema"] = {"type": "string", "enum": [DEMO_EC]}
    return document


def test_the_upload_routes_answer_within_the_description(host: Host) -> None:
    """Generated uploads (any bytes as the file), statuses and reports of files that do not
    exist, listings of the broker's files: each answer is one the description lists, of its
    type and schema, never a 5xx."""
    schema = schemathesis.openapi.from_dict(description_of_the_demo_ecs_uploads())
    operations = [result.ok() for result in schema.get_all_operations()]
    uploads = [op for op in operations if op.path.startswith("/upload/")]
    assert len(uploads) == 6
    seen: set[int] = set()
    with requests.Session() as session:
        for operation in uploads:

            def test(case: Any) -> None:
                response = send(case, host, session)
                case.validate_response(response, checks=CHECKS)
                seen.add(response.status_code)

            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                run(operation.as_strategy(mode), UPLOAD_EXAMPLES, test)
    assert seen <= {200, 400, 403, 404, 410, 413}, seen
    assert {400, 404} <= seen, seen


def test_a_file_as_pagopas_upload_format_is_accepted_then_reported(host: Host) -> None:
    """A ZIP of one JSON file, sent as a client built from the spec sends it: 202 with the
    Location of its status, then the status and the report in the description's schemas."""
    schema = schemathesis.openapi.from_dict(description_of_the_demo_ecs_uploads())
    tag = f"{uuid.uuid4().int % 10**12:012d}"
    good = {
        "iupd": f"ACA_{DEMO_EC}_01{tag}",
        "type": "G",
        "fiscalCode": "01234567890",
        "fullName": "ACME",
        "companyName": "Comune di Demo",
        "switchToExpired": False,
        "paymentOption": [
            {
                "iuv": f"01{tag}",
                "amount": 500,
                "description": "COSAP",
                "isPartialPayment": False,
                "dueDate": "2030-01-31T23:00:00",
                "transfer": [
                    {"idTransfer": "1", "amount": 500, "category": "x", "iban": DEMO_IBAN}
                ],
            }
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("p.json", json.dumps({"paymentPositions": [good, {"iupd": "bad"}]}))
    base = (
        host.url
        + "/api"
        + FILE.format(**{"broker-code": DEMO_EC, "organization-fiscal-code": DEMO_EC})
    )
    key = {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_EC"]}
    accepted = requests.post(
        base, files={"file": ("p.zip", buffer.getvalue())}, headers=key, timeout=30
    )
    assert accepted.status_code == 202, accepted.text
    schema[FILE]["POST"].validate_response(accepted)
    file_id = accepted.headers["Location"].split("/")[-2]

    def report() -> requests.Response | None:
        response = requests.get(f"{base}/{file_id}/report", headers=key, timeout=30)
        return response if response.status_code == 200 else None

    done = wait_for(report, timeout=30, interval=0.2)
    schema[f"{FILE}/{{file-id}}/report"]["GET"].validate_response(done)
    groups = {group["statusCode"]: group["iupds"] for group in done.json()["responses"]}
    assert groups == {201: [good["iupd"]], 400: ["bad"]}
    status = requests.get(f"{base}/{file_id}/status", headers=key, timeout=30)
    schema[f"{FILE}/{{file-id}}/status"]["GET"].validate_response(status)
    assert status.json()["operationStatus"] == "COMPLETED_WITH_WARNINGS"
