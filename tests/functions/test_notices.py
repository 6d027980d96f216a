"""The archive's triggers called directly (func.HttpRequest, func.ServiceBusMessage, a timer)
on a root of in-memory fakes: pagoPA's statuses, its ProblemJson, the ACA contract's 400s and
the 422s of what the archive will not take."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from functions.root import use_root
from shared.notices.bulk import Bulks
from shared.notices.service import NoticeArchive
from shared.parties.service import PartyRegistry
from shared.platform.clock import SystemClock, use_clock
from shared.platform.messaging import Outgoing
from tests.app import app
from tests.functions.fakes import NOW, FakeRoot, functions, request, trigger
from tests.unit.notices.fakes import BROKER, EC, IBAN, OTHER_EC, OTHER_IBAN, World, body, nav
from tests.unit.notices.test_upload import CONTENT_TYPE, gpd, multipart, upload_body

KEYS = {EC: "ec-key", OTHER_EC: "other-ec-key", BROKER: "broker-key", "ACQ": "acquirer-key"}
CREATE = "aca/v1/paCreatePosition"


class NoticesRoot(FakeRoot):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(party_store=self.party_store, sender=self.sender, now=NOW)

    def parties(self) -> PartyRegistry:
        return self.world.registry

    def notices(self) -> NoticeArchive:
        return self.world.archive

    def notice_bulks(self) -> Bulks:
        return self.world.bulks


@pytest.fixture
async def root() -> AsyncIterator[NoticesRoot]:
    fake = NoticesRoot()
    await fake.world.seed()
    for party_id, key in KEYS.items():
        await fake.world.registry.add_key(party_id, key, now=NOW)
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


def key(party: str) -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": KEYS[party]}


async def call(
    name: str,
    method: str,
    path: str,
    *,
    data: Any = None,
    raw: bytes | None = None,
    party: str | None = EC,
    params: dict[str, str] | None = None,
    **route: str,
) -> func.HttpResponse:
    payload = raw if raw is not None else (b"" if data is None else json.dumps(data).encode())
    response: func.HttpResponse = await trigger(app, name)(
        request(
            method,
            path,
            body=payload,
            headers=key(party) if party else {},
            route_params=route,
            params=params,
        )
    )
    return response


def parsed(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def problem(response: func.HttpResponse, status: int) -> dict[str, Any]:
    """pagoPA's ProblemJson: application/json, title, status, detail (and our correlation id)."""
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/json"
    found: dict[str, Any] = parsed(response)
    assert found["status"] == status
    assert found["title"]
    assert found["detail"]
    assert found["correlationId"] == response.headers["x-correlation-id"]
    assert not {"type", "instance"} & set(found)
    return found


async def create(
    data: dict[str, Any], party: str | None = EC, params: dict[str, str] | None = None
) -> func.HttpResponse:
    return await call("aca_create_position", "POST", CREATE, data=data, party=party, params=params)


# ------------------------------------------------------------------ the behaviour table
async def test_create_update_invalidate_are_200_with_the_position(root: NoticesRoot) -> None:
    created = await create(body(1, expirationDate="2027-01-31T23:00:00+01:00"))
    assert created.status_code == 200
    assert created.mimetype == "application/json"
    assert parsed(created) == {
        "paFiscalCode": EC,
        "companyName": "Comune di Demo",
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": body(1)["iuv"],
        "nav": nav(1),
        "amount": 12_050,
        "description": "TARI 2026",
        "expirationDate": "2027-01-31T23:00",
        "iban": IBAN,
        "switchToExpired": False,
        "status": "VALID",
    }
    root.clock.advance(1)
    updated = await create(body(1, amount=1))
    assert (updated.status_code, parsed(updated)["amount"]) == (200, 1)
    root.clock.advance(1)
    invalid = await create(body(1, amount=0))
    assert (invalid.status_code, parsed(invalid)["status"]) == (200, "INVALID")
    root.clock.advance(1)
    for amount in (5, 0):  # an INVALID position is no longer the EC's to change
        refused = problem(await create(body(1, amount=amount)), 409)
        assert refused["title"] == "Unauthorized action"


async def test_an_unknown_ec_is_404(root: NoticesRoot) -> None:
    problem(await create(body(1, paFiscalCode="80000000009")), 404)
    problem(await create(body(1, paFiscalCode="abc/def?#gh")), 404)


async def test_amount_zero_for_an_absent_position_is_422(root: NoticesRoot) -> None:
    found = problem(await create(body(1, amount=0)), 422)
    assert found["errors"][0]["loc"] == ["amount"]


async def test_a_paid_position_is_409_with_why(root: NoticesRoot) -> None:
    await create(body(1))
    await root.world.archive.mark_paid(
        EC, nav(1), receipt_id="r-1", paid_at=NOW, by="GW", stand_in=False, now=NOW
    )
    root.clock.advance(1)
    assert "paid" in problem(await create(body(1, amount=5)), 409)["detail"]


@pytest.mark.parametrize(
    "data",
    [
        body(1, amount=-1),
        body(1, paFiscalCode="123"),
        body(1, iban="IT00"),
        body(1, iban=None),
        body(1, expirationDate="2027-02-30T00:00:00Z"),
        body(1, iuv=""),
        body(1, amount=...),
    ],
)
async def test_validation_errors_are_400_naming_the_fields(
    root: NoticesRoot, data: dict[str, Any]
) -> None:
    found = problem(await create(data), 400)
    assert found["errors"]
    assert all(error["loc"] for error in found["errors"])


async def test_a_body_as_pagopas_spec_allows_it_is_taken(root: NoticesRoot) -> None:
    data = body(1, iuv="ABC", nav="X-1", entityFiscalCode="R" * 3000, extra={"n": [1e300]})
    created = await create(data)
    assert (created.status_code, parsed(created)["nav"]) == (200, "X-1")


@pytest.mark.parametrize(
    "data",
    [
        body(1, expirationDate="0999-12-31T23:00:00Z"),
        body(1, expirationDate="2100-01-01T00:00:00Z"),
        body(1, entityFullName="Mario\u0000Rossi"),
        body(1, iban="IT00X0542811101000000123456"),
        body(1, iuv="ABC-123", nav="3" * 18),
        body(1, nav=nav(1, "03")),
    ],
)
async def test_what_the_archive_cannot_take_is_422_and_stores_nothing(
    root: NoticesRoot, data: dict[str, Any]
) -> None:
    found = problem(await create(data), 422)
    [field] = [k for k, v in data.items() if body(1).get(k) != v and k != "iuv"]
    assert [error["loc"] for error in found["errors"]] == [[field]]
    assert root.world.store.items == {}


async def test_a_nav_of_another_segregation_code_cannot_reach_that_notice(
    root: NoticesRoot,
) -> None:
    """The attack: the broker (codes 01 and 02) sends a code-01 IUV with the nav of the EC's
    code-03 notice, to overwrite it (amount, description, IBAN) and then read it."""
    assert (await create(body(1, code="03"))).status_code == 200
    before = root.world.stored(EC, nav(1, "03"))
    hijack = body(1, code="01", nav=nav(1, "03"), amount=1, description="x", iban=OTHER_IBAN)
    for params in (None, {"segregationCodes": "01"}):
        found = problem(await create(hijack, party=BROKER, params=params), 409)
        assert found["title"] == "Unauthorized action"
    assert [e["loc"] for e in problem(await create(hijack), 422)["errors"]] == [["nav"]]
    assert root.world.stored(EC, nav(1, "03")) == before
    route = {"paFiscalCode": EC, "nav": nav(1, "03")}
    path = f"aca/v1/positions/{EC}/{nav(1, '03')}"
    problem(await call("aca_read_position", "GET", path, party=BROKER, **route), 403)


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("amount", b"1e400", 400),
        ("amount", b"18446744073709551616", 400),
        ("amount", b"1" * 5000, 400),
        ("description", b'"a\\u0000b"', 422),
        ("description", b'"\\ud800"', 400),  # not a Unicode string at all
        ("unknown", b"1" * 5000, 200),
        ("unknown", b'"\\ud800\\u0000"', 200),
        ("unknown", b"1e400", 200),
    ],
)
async def test_what_json_can_say_is_400_in_a_field_no_value_fits_and_ignored_elsewhere(
    root: NoticesRoot, field: str, value: bytes, status: int
) -> None:
    rest = json.dumps({k: v for k, v in body(1).items() if k != field}).encode()
    raw = rest[:-1] + b', "' + field.encode() + b'": ' + value + b"}"
    response = await call("aca_create_position", "POST", CREATE, raw=raw)
    if status == 200:
        assert response.status_code == 200
    else:
        problem(response, status)
        assert root.world.store.items == {}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 422),  # pagoPA's spec leaves the body optional: no body follows the spec
        (b" \r\n", 422),
        (b"{", 400),
        (b"[]", 400),
        (b"\xff\xfe", 400),
        (b"[" * 15_000, 400),
        (b"{}" + b" " * 70_000, 413),
    ],
)
async def test_malformed_or_absent_bodies_are_4xx(
    root: NoticesRoot, raw: bytes, status: int
) -> None:
    problem(await call("aca_create_position", "POST", CREATE, raw=raw), status)
    assert root.world.store.items == {}


# ------------------------------------------------------------------ authentication
async def test_the_subscription_key_alone_in_the_header_or_the_query(root: NoticesRoot) -> None:
    assert func_level("aca_create_position") == func.AuthLevel.ANONYMOUS  # no function key
    response = await trigger(app, "aca_create_position")(
        request(
            "POST",
            CREATE,
            body=json.dumps(body(1)).encode(),
            params={"subscription-key": KEYS[EC]},
        )
    )
    assert response.status_code == 200


def func_level(name: str) -> Any:
    return functions(app)[name].get_trigger().get_dict_repr()["authLevel"]


async def test_missing_or_unknown_keys_are_401(root: NoticesRoot) -> None:
    problem(await create(body(1), party=None), 401)
    response = await trigger(app, "aca_create_position")(
        request(
            "POST",
            CREATE,
            body=json.dumps(body(1)).encode(),
            headers={"Ocp-Apim-Subscription-Key": "nope"},
        )
    )
    problem(response, 401)


async def test_a_key_that_may_not_act_for_the_ec_is_403_a_code_it_may_not_use_409(
    root: NoticesRoot,
) -> None:
    problem(await create(body(1), party=OTHER_EC), 403)
    problem(await create(body(1), party="ACQ"), 403)  # an acquirer may not call at all
    problem(await create(body(1, code="03"), party=BROKER), 409)
    assert (await create(body(1, code="01"), party=BROKER)).status_code == 200
    problem(await create(body(2, code="01"), party=BROKER, params={"segregationCodes": "02"}), 409)
    problem(await create(body(2), params={"segregationCodes": "1,2"}), 400)


# ------------------------------------------------------------------ reads
async def test_reads(root: NoticesRoot) -> None:
    await create(body(1))
    route = {"paFiscalCode": EC, "nav": nav(1)}
    path = f"aca/v1/positions/{EC}/{nav(1)}"
    read = await call("aca_read_position", "GET", path, **route)
    assert (read.status_code, parsed(read)["nav"]) == (200, nav(1))
    problem(await call("aca_read_position", "GET", path, party=OTHER_EC, **route), 403)
    problem(await call("aca_read_position", "GET", path, party=None, **route), 401)
    problem(await call("aca_read_position", "GET", path, paFiscalCode=EC, nav=nav(2)), 404)
    problem(await call("aca_read_position", "GET", path, paFiscalCode="1", nav=nav(1)), 400)
    ops = await call(
        "ops_read_position", "GET", f"ops/notices/positions/{EC}/{nav(1)}", party=None, **route
    )
    assert parsed(ops)["history"][0]["action"] == "created"


# ------------------------------------------------------------------ bulk
def as_received(outgoing: Outgoing) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=outgoing.body,
        message_id=outgoing.message_id,
        delivery_count=1,
        application_properties={},
        user_properties={},
    )


async def test_a_bulk_is_202_then_written_by_the_queue(root: NoticesRoot) -> None:
    lines = [json.dumps(body(n)) for n in range(1, 6)] + ["{oops"]
    accepted = await call(
        "aca_bulk_upload", "POST", "aca/v1/positions/bulk", raw="\n".join(lines).encode()
    )
    assert accepted.status_code == 202
    bulk_id = parsed(accepted)["bulkId"]
    sent = list(root.sender.sent)
    assert [queue for queue, _ in sent] == ["notices"] * 2
    for _, outgoing in sent:
        await trigger(app, "notices_bulk_chunk")(as_received(outgoing))
    report = await call("aca_bulk_report", "GET", f"aca/v1/bulk/{bulk_id}", id=bulk_id)
    assert parsed(report) | {"rejectedLines": None} == parsed(report) | {
        "status": "COMPLETED",
        "accepted": 6,
        "written": 5,
        "rejected": 1,
        "pending": 0,
        "rejectedLines": None,
    }
    assert parsed(report)["rejectedLines"][0]["line"] == 6
    problem(
        await call("aca_bulk_report", "GET", f"aca/v1/bulk/{bulk_id}", party=BROKER, id=bulk_id),
        403,
    )
    ops = await call(
        "ops_bulk_report", "GET", f"ops/notices/bulk/{bulk_id}", party=None, id=bulk_id
    )
    assert parsed(ops)["written"] == 5


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"", 400), (b"[{", 400), (b"{}\n" * 50_001, 413), (b" " * (20 * 1024 * 1024 + 1), 413)],
)
async def test_bad_uploads_are_4xx(root: NoticesRoot, raw: bytes, status: int) -> None:
    problem(await call("aca_bulk_upload", "POST", "aca/v1/positions/bulk", raw=raw), status)
    assert root.sender.sent == []


@pytest.mark.parametrize(
    "element",
    [b'{"amount": 1' + b"1" * 5000 + b"}", b'{"description": "\\ud800"}', b'"\\u0000"', b"1e999"],
)
async def test_a_hostile_json_array_is_400_and_nothing_is_stored(
    root: NoticesRoot, element: bytes
) -> None:
    raw = b"[" + json.dumps(body(1)).encode() + b", " + element + b"]"
    problem(await call("aca_bulk_upload", "POST", "aca/v1/positions/bulk", raw=raw), 400)
    assert (root.sender.sent, root.world.blobs.blobs) == ([], {})


async def test_a_message_that_is_not_a_chunk_becomes_failed_work(root: NoticesRoot) -> None:
    await trigger(app, "notices_bulk_chunk")(as_received(Outgoing.json("m1", {"x": 1})))
    [item] = root.failed_work.items.values()
    assert item.ending == "permanent"


# ------------------------------------------------------------------ the timer
async def test_the_expiry_timer(root: NoticesRoot) -> None:
    await create(body(1, switchToExpired=True, expirationDate="2026-12-08T10:00:00Z"))
    root.clock.advance(timedelta(hours=1).total_seconds())
    await trigger(app, "notices_expire")(TimerRequest(past_due=False))
    assert root.world.stored(EC, nav(1))["status"] == "EXPIRED"  # type: ignore[index]


# ------------------------------------------------------------------ pagoPA's upload file
UPLOAD = f"upload/aca/debt-positions-service/v2/brokers/{EC}/organizations/{EC}/debtpositions/file"


async def upload(method: str, body: bytes, broker: str = EC, party: str = EC) -> func.HttpResponse:
    name = {"POST": "aca_upload_create", "PUT": "aca_upload_update", "DELETE": "aca_upload_delete"}
    response: func.HttpResponse = await trigger(app, name[method])(
        request(
            method,
            UPLOAD,
            body=body,
            headers={**key(party), "Content-Type": CONTENT_TYPE},
            route_params={"broker": broker, "organization": EC},
        )
    )
    return response


async def test_an_uploaded_file_is_202_then_its_status_and_report(root: NoticesRoot) -> None:
    accepted = await upload("POST", upload_body([gpd(1), gpd(2, iupd="x")]))
    assert (accepted.status_code, accepted.get_body()) == (202, b"")
    location = accepted.headers["Location"]
    assert location.startswith(f"/api/{UPLOAD}/")
    assert location.endswith("/status")
    file_id = location.split("/")[-2]
    route = {"broker": EC, "organization": EC, "fileId": file_id}
    early = await call("aca_upload_report", "GET", f"{UPLOAD}/{file_id}/report", **route)
    assert problem(early, 425)["title"] == "Too Early"
    for _, outgoing in list(root.sender.sent):
        await trigger(app, "notices_bulk_chunk")(as_received(outgoing))
    status = await call("aca_upload_status", "GET", f"{UPLOAD}/{file_id}/status", **route)
    assert parsed(status) | {"startTime": None} == {
        "fileId": file_id,
        "processedItem": 2,
        "submittedItem": 2,
        "startTime": None,
        "operationStatus": "COMPLETED_WITH_WARNINGS",
    }
    report = parsed(await call("aca_upload_report", "GET", f"{UPLOAD}/{file_id}/report", **route))
    assert [(r["statusCode"], r["iupds"]) for r in report["responses"]] == [
        (201, [f"ACA_{EC}_{body(1)['iuv']}"]),
        (400, ["x"]),
    ]
    lines = parsed(await call("aca_bulk_report", "GET", f"aca/v1/bulk/{file_id}", id=file_id))
    assert [r["line"] for r in lines["rejectedLines"]] == [2]  # the same per-line report
    refused = await call(
        "aca_upload_status", "GET", f"{UPLOAD}/{file_id}/status", party=BROKER, **route
    )
    problem(refused, 403)  # not the broker's key


async def test_uploads_that_cannot_be_taken_are_4xx_problems(root: NoticesRoot) -> None:
    problem(await upload("PUT", multipart(b"not a zip")), 400)
    problem(await upload("DELETE", upload_body([gpd(1)])), 400)  # a delete lists IUPDs
    problem(await upload("POST", upload_body([gpd(1)]), broker=BROKER), 403)
    assert root.sender.sent == []


async def test_the_broker_lists_its_uploaded_files(root: NoticesRoot) -> None:
    accepted = await upload("POST", upload_body([gpd(1)]))
    file_id = accepted.headers["Location"].split("/")[-2]
    route = {"broker": EC, "organization": EC}
    listed = await call("aca_upload_list", "GET", f"{UPLOAD}s", **route)
    assert parsed(listed) == {"fileIds": [file_id], "size": 1, "hasMore": False}
    assert "x-continuation-token" not in listed.headers
    problem(await call("aca_upload_list", "GET", f"{UPLOAD}s", params={"size": "7"}, **route), 400)
    old = {"from": "2026-01-01", "to": "2026-01-07"}
    problem(await call("aca_upload_list", "GET", f"{UPLOAD}s", params=old, **route), 410)
    problem(await call("aca_upload_list", "GET", f"{UPLOAD}s", party=BROKER, **route), 403)
