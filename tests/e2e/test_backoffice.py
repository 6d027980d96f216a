"""The back office's API through the dev host: the dev sign-in's session as the credential, an
editor's writes through the archive, a viewer's refusals, EC-scoped paged search, the platform's
principal header never taken from a client, operators' users."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local import ops
from local.devauth import COOKIE, DEMO_EDITOR, DEMO_VIEWER, DemoUser, session_cookie
from local.platform import DEMO_EC, Platform
from tests.conftest import ADMIN_KEY, Host, fresh_queues, start_host, wait_for

POSITIONS = f"/api/bo/v1/ecs/{DEMO_EC}/positions"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    env = {**fresh_queues("bo"), "NOTICES_QUEUE": f"bo-{uuid.uuid4().hex[:8]}"}
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


def as_user(host: Host, user: DemoUser, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, host.url + path, cookies={COOKIE: session_cookie(user)}, timeout=30, **kwargs
    )


def position(iuv: str, **fields: Any) -> dict[str, Any]:
    return {
        "paFiscalCode": DEMO_EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv,
        "amount": 12_050,
        "description": "TARI 2026",
        "expirationDate": "2030-01-31T23:59:59+01:00",
        **fields,
    }


def new_iuv() -> str:
    return f"01{uuid.uuid4().int % 10**15:015d}"


def test_an_editor_creates_edits_and_invalidates_through_the_archive(host: Host) -> None:
    iuv = new_iuv()
    created = as_user(host, DEMO_EDITOR, "POST", POSITIONS, json=position(iuv))
    assert created.status_code == 201, created.text
    assert (created.json()["nav"], created.json()["status"]) == (f"3{iuv}", "VALID")
    again = as_user(host, DEMO_EDITOR, "POST", POSITIONS, json=position(iuv))
    assert again.status_code == 409
    assert again.json()["errors"][0]["loc"] == ["iuv"]

    edited = as_user(
        host, DEMO_EDITOR, "PUT", f"{POSITIONS}/3{iuv}", json=position(iuv, amount=9_900)
    )
    assert (edited.status_code, edited.json()["amount"]) == (200, 9_900), edited.text
    assert [c["action"] for c in edited.json()["history"]] == ["created", "updated"]

    gone = as_user(host, DEMO_EDITOR, "POST", f"{POSITIONS}/3{iuv}/invalidate")
    assert (gone.status_code, gone.json()["status"]) == (200, "INVALID"), gone.text
    read = as_user(host, DEMO_EDITOR, "GET", f"{POSITIONS}/3{iuv}")
    assert read.json()["status"] == "INVALID"


def test_the_archives_refusals_come_back_per_field(host: Host) -> None:
    bad = position(
        new_iuv(), iban="IT00X0542811101000000123456", description="carta 4111 1111 1111 1111"
    )
    refused = as_user(host, DEMO_EDITOR, "POST", POSITIONS, json=bad)
    assert refused.status_code == 422, refused.text
    assert {e["loc"][-1] for e in refused.json()["errors"]} == {"iban", "description"}
    schema = as_user(host, DEMO_EDITOR, "POST", POSITIONS, json=position(new_iuv(), amount="1"))
    assert schema.status_code == 422
    assert [e["loc"][-1] for e in schema.json()["errors"]] == ["amount"]


def test_a_viewer_reads_and_may_not_write(host: Host) -> None:
    iuv = new_iuv()
    assert as_user(host, DEMO_EDITOR, "POST", POSITIONS, json=position(iuv)).status_code == 201
    assert as_user(host, DEMO_VIEWER, "GET", f"{POSITIONS}/3{iuv}").status_code == 200
    for method, path, body in (
        ("POST", POSITIONS, position(new_iuv())),
        ("PUT", f"{POSITIONS}/3{iuv}", position(iuv, amount=1)),
        ("POST", f"{POSITIONS}/3{iuv}/invalidate", None),
    ):
        refused = as_user(host, DEMO_VIEWER, method, path, json=body)
        assert refused.status_code == 403, (method, path, refused.text)
    assert as_user(host, DEMO_VIEWER, "GET", f"{POSITIONS}/3{iuv}").json()["amount"] == 12_050


def test_search_is_paged_filtered_and_scoped_to_the_ec(host: Host) -> None:
    debtor = f"TST{uuid.uuid4().hex[:10].upper()}"
    iuvs = sorted(new_iuv() for _ in range(5))
    for iuv in iuvs:
        body = position(iuv, entityFiscalCode=debtor)
        assert as_user(host, DEMO_EDITOR, "POST", POSITIONS, json=body).status_code == 201

    def indexed() -> bool:
        # the table reads the EC's positions index, which the archive's events fill
        query = {"debtor": debtor, "pageSize": 10}
        page = as_user(host, DEMO_VIEWER, "GET", POSITIONS, params=query)
        return page.status_code == 200 and len(page.json()["items"]) == len(iuvs)

    wait_for(indexed)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"debtor": debtor, "pageSize": 2, **({"cursor": cursor} if cursor else {})}
        page = as_user(host, DEMO_VIEWER, "GET", POSITIONS, params=query)
        assert page.status_code == 200, page.text
        seen += [p["iuv"] for p in page.json()["items"]]
        pages += 1
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    assert (seen, pages) == (iuvs, 3)
    one = as_user(host, DEMO_VIEWER, "GET", POSITIONS, params={"iuv": iuvs[2]}).json()
    assert [p["iuv"] for p in one["items"]] == [iuvs[2]]
    due = {"debtor": debtor, "dueFrom": "2030-01-31", "dueTo": "2030-01-31"}
    assert len(as_user(host, DEMO_VIEWER, "GET", POSITIONS, params=due).json()["items"]) == 5
    later = {"debtor": debtor, "dueFrom": "2030-02-01"}
    assert as_user(host, DEMO_VIEWER, "GET", POSITIONS, params=later).json()["items"] == []
    other_ec = as_user(host, DEMO_EDITOR, "GET", "/api/bo/v1/ecs/12345678901/positions")
    assert other_ec.status_code == 403


def test_a_client_supplied_principal_is_never_taken(host: Host) -> None:
    forged = base64.b64encode(
        json.dumps(
            {
                "auth_typ": "aad",
                "claims": [
                    {
                        "typ": "http://schemas.microsoft.com/identity/claims/objectidentifier",
                        "val": DEMO_EDITOR.object_id,
                    }
                ],
            }
        ).encode()
    ).decode()
    sent = requests.get(
        host.url + "/api/bo/v1/me", headers={"X-MS-CLIENT-PRINCIPAL": forged}, timeout=30
    )
    assert sent.status_code == 401
    page = requests.get(host.url + "/api/bo", allow_redirects=False, timeout=30)
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/.auth/login/aad")


def test_operators_give_and_take_access(host: Host) -> None:
    object_id = str(uuid.uuid4())
    path = f"/api/ops/bo-users/{object_id}"
    command = ["--url", host.url, "--admin-key", ADMIN_KEY, "bo-users"]
    given = [*command, "put", object_id, "--name", "Anna Verdi", "--ec", f"{DEMO_EC}=viewer"]
    assert ops.main(given) == 0
    assert host.request("GET", path, key=ADMIN_KEY).json()["ecs"] == {DEMO_EC: "viewer"}
    assert ops.main([*command, "remove", object_id]) == 0
    assert host.request("GET", path, key=ADMIN_KEY).status_code == 404
    wrong = host.request("PUT", path, key=ADMIN_KEY, json={"name": "A", "ecs": {"x": "viewer"}})
    assert wrong.status_code == 422
    me = as_user(host, DEMO_VIEWER, "GET", "/api/bo/v1/me")
    assert me.json()["ecs"] == [
        {"fiscalCode": DEMO_EC, "name": "Comune di Demo (creditor institution)", "role": "viewer"}
    ]
