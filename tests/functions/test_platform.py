"""The platform's triggers and the HTTP edge, called directly with func.HttpRequest."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from functions.root import use_root
from shared.platform.clock import SystemClock, use_clock
from shared.platform.failed_work import FailedWork, failed_work_id
from tests.app import app
from tests.functions.fakes import NOW, FakeRoot, request, trigger

CF = "RSSMRA85T10A562S"


@pytest.fixture
def root() -> Iterator[FakeRoot]:
    fake = FakeRoot()
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


async def test_register_and_read_a_party(root: FakeRoot) -> None:
    body = json.dumps(
        {"partyId": "80000000001", "name": "Comune", "role": "ec", "actsFor": {}}
    ).encode()
    created = await trigger(app, "register_party")(request("POST", "ops/parties", body=body))
    assert created.status_code == 200
    assert json.loads(created.get_body())["createdAt"].startswith("2026-12-08T09:30")
    read = await trigger(app, "read_party")(
        request("GET", "ops/parties/80000000001", route_params={"partyId": "80000000001"})
    )
    assert json.loads(read.get_body())["name"] == "Comune"
    missing = await trigger(app, "read_party")(
        request("GET", "ops/parties/x", route_params={"partyId": "x"})
    )
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"


async def test_a_rotated_key_authenticates_its_party(root: FakeRoot) -> None:
    body = json.dumps({"partyId": "80000000001", "name": "Comune", "role": "ec"}).encode()
    await trigger(app, "register_party")(request("POST", "ops/parties", body=body))
    issued = await trigger(app, "rotate_party_key")(
        request(
            "POST",
            "ops/parties/80000000001/keys",
            body=b"{}",
            route_params={"partyId": "80000000001"},
        )
    )
    assert issued.status_code == 201
    key = json.loads(issued.get_body())["key"]
    assert not any(key in str(item) for item in root.party_store.items.values())  # hash only
    ok = await trigger(app, "test_creditor")(
        request("GET", "tests/creditor", headers={"Ocp-Apim-Subscription-Key": key})
    )
    assert json.loads(ok.get_body()) == {"who": "80000000001"}


async def test_citizen_endpoint_reads_the_token(root: FakeRoot) -> None:
    ok = await trigger(app, "test_citizen")(
        request("GET", "tests/citizen", headers={"Authorization": f"Bearer {root.token(CF)}"})
    )
    assert json.loads(ok.get_body()) == {"who": CF}
    refused = await trigger(app, "test_citizen")(request("GET", "tests/citizen"))
    assert refused.status_code == 401
    assert json.loads(refused.get_body())["detail"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"[", 400),
        (b'"text"', 422),
        (b'{"text": 1, "amount": 1}', 422),
        (b'{"text": "a", "amount": 1, "extra": true}', 422),
        (b"x" * 2000, 413),
        # not JSON at all, however it fails: 400
        (b"\xff\xfe", 400),
        (b'{"text": "a"} x', 400),
        (b"[" * 1000, 400),
        (b"   ", 400),
        # JSON that no field can take, whatever the schema: 400
        (b"NaN", 400),
        (b'{"text": "a", "amount": 1e400}', 400),
        (b'{"text": "a", "amount": 18446744073709551616}', 400),
        (b'{"text": "a", "amount": ' + b"1" * 400 + b"}", 400),
        (b'{"text": "a\\u0000", "amount": 1}', 400),
        (b'{"text": "\\ud800", "amount": 1}', 400),
        (b'{"text": "a", "amount": 1, "\\u0000": 1}', 400),
        # JSON, but not the schema: 422
        (b'{"text": "a", "amount": 1.5}', 422),
        (b"[]", 422),
        (b'{"text": "a", "amount": "1"}', 422),  # a string is not a number
        (b'{"text": "a", "amount": true}', 422),  # nor is a boolean
    ],
)
async def test_bad_bodies_are_problems(root: FakeRoot, raw: bytes, status: int) -> None:
    response = await trigger(app, "test_echo")(request("POST", "tests/echo", body=raw))
    assert response.status_code == status
    problem = json.loads(response.get_body())
    assert problem["status"] == status
    assert problem["instance"] == "/api/tests/echo"


async def test_failed_work_is_listed_and_replayed(root: FakeRoot) -> None:
    item = FailedWork(
        id=failed_work_id("q1", "m1"),
        queue="q1",
        message_id="m1",
        original_message_id="m1",
        body_b64="e30=",
        ending="permanent",
        reason="bad",
        attempts=1,
        delivery_count=1,
        failed_at=NOW,
    )
    await root.failed_work.record(item)
    listed = await trigger(app, "list_failed_work")(
        request("GET", "ops/failed-work", params={"queue": "q1"})
    )
    assert [i["id"] for i in json.loads(listed.get_body())["items"]] == [item.id]
    bad_limit = await trigger(app, "list_failed_work")(
        request("GET", "ops/failed-work", params={"limit": "0"})
    )
    assert bad_limit.status_code == 400
    replayed = await trigger(app, "replay_failed_work")(
        request("POST", f"ops/failed-work/{item.id}/replay", route_params={"id": item.id})
    )
    assert replayed.status_code == 200
    [(queue, copy)] = root.sender.sent
    assert (queue, copy.message_id, copy.body) == ("q1", "m1:replay:1", b"{}")


@pytest.mark.parametrize(
    ("name", "path", "params", "route"),
    [
        ("replay_failed_work", "ops/failed-work/%2F/replay", {}, {"id": "/"}),
        ("replay_failed_work", "ops/failed-work/x/replay", {}, {"id": "x" * 5000}),
        ("list_failed_work", "ops/failed-work", {"limit": "1" * 5000}, {}),
        ("read_party", "ops/parties/%2F", {}, {"partyId": "/"}),
        ("read_party", "ops/parties/x", {}, {"partyId": "x" * 5000}),
        ("rotate_party_key", "ops/parties/a%23b/keys", {}, {"partyId": "a#b"}),
        ("list_failed_work", "ops/failed-work", {"limit": "501"}, {}),
        ("list_failed_work", "ops/failed-work", {"limit": "\u0661"}, {}),
        ("list_failed_work", "ops/failed-work", {"queue": "q\x00"}, {}),
        (
            "list_dead_letters",
            "ops/dead-letters/notices",
            {"limit": "9" * 5000},
            {"queue": "notices"},
        ),
        (
            "replay_dead_letters",
            "ops/dead-letters/notices/replay",
            {"limit": "9" * 5000},
            {"queue": "notices"},
        ),
    ],
)
async def test_operator_parameters_out_of_bounds_are_400_problems(
    root: FakeRoot, name: str, path: str, params: dict[str, str], route: dict[str, str]
) -> None:
    method = "POST" if "replay" in name or "rotate" in name else "GET"
    body = b"{}" if "rotate" in name else b""
    response = await trigger(app, name)(
        request(method, path, body=body, params=params, route_params=route)
    )
    assert response.status_code == 400, response.get_body()
    assert response.mimetype == "application/problem+json"
    assert json.loads(response.get_body())["errors"][0]["loc"][0] in ("path", "query")


async def test_openapi_is_generated_without_any_dependency(root: FakeRoot) -> None:
    response = await trigger(app, "openapi")(request("GET", "openapi.json"))
    document = json.loads(response.get_body())
    assert document["paths"]["/api/ops/parties/{partyId}"]["get"]["security"] == [{"adminKey": []}]
    assert "PartyIn" in document["components"]["schemas"]
