"""The journal's queue consumer and routes, called directly on in-memory ports: an archive
event becomes one entry (a redelivery none), a signed-in user of the EC reads and exports it,
anyone else is refused."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from functools import cached_property
from types import SimpleNamespace
from typing import Any, cast

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.backoffice_journal import client_ip
from functions.root import use_root
from shared.backoffice.principal import PRINCIPAL_HEADER, encode_principal
from shared.backoffice.service import BackOffice
from shared.journal.service import Journal
from shared.parties.users import BackOfficeUsers, UserIn
from shared.platform.clock import SystemClock, use_clock
from shared.platform.errors import DependencyError
from tests.app import app
from tests.fakes.journal import DownJournalStore
from tests.functions.fakes import NOW, FakeRoot, functions, request, trigger

EC = "77777777777"
NAV = "301000000000000001"
VIEWER = "0b0e0000-0000-4000-8000-0000000000b2"
STRANGER = "0b0e0000-0000-4000-8000-0000000000c3"
JOURNAL = "bo/v1/journal"


class JournalRoot(FakeRoot):
    @cached_property
    def journal_store(self) -> DownJournalStore:
        return DownJournalStore()

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.journal_store, retention_days=30)

    @cached_property
    def users(self) -> BackOfficeUsers:
        return BackOfficeUsers(self.party_store)

    def backoffice(self) -> BackOffice:
        # the journal's routes ask the back office only who the user is (and /me its ECs' names)
        return BackOffice(self.users, cast(Any, _Archive()), cast(Any, None))


class _Ecs:
    async def get(self, fiscal_code: str) -> SimpleNamespace:
        return SimpleNamespace(name=f"Comune {fiscal_code}")


class _Archive:
    ecs = _Ecs()


@pytest.fixture
async def root() -> AsyncIterator[JournalRoot]:
    fake = JournalRoot()
    await fake.users.put(VIEWER, UserIn(name="Marco", ecs={EC: "viewer"}), now=NOW)
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


def event(event_id: str, type_: str = "NoticeCreated", **data: Any) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": type_,
            "createdAt": NOW.isoformat(),
            "data": {
                "ecFiscalCode": EC,
                "noticeCode": NAV,
                "iuv": "01000000000000001",
                "debtorFiscalCode": "RSSMRA85T10A562S",
                "description": "TARI 2026",
                "amount": 12_050,
                "dueDate": "2027-01-31T23:00:00Z",
                "status": "VALID",
                "seq": 1,
                **data,
            },
        }
    ).encode()


async def consume(body: bytes) -> None:
    message = ServiceBusMessage(
        body=body,
        message_id="m-1",
        delivery_count=1,
        application_properties={},
        user_properties={},
    )
    await trigger(app, "journal_notice_events")(message)


async def get(name: str, path: str, user: str = VIEWER, **params: str) -> func.HttpResponse:
    headers = {PRINCIPAL_HEADER: encode_principal(user, "Marco")}
    response: func.HttpResponse = await trigger(app, name)(
        request("GET", path, headers=headers, params=params)
    )
    return response


async def test_an_event_is_one_entry_the_ecs_viewer_reads(root: JournalRoot) -> None:
    await consume(event("ev-1"))
    await consume(event("ev-1"))  # redelivered
    await consume(event("ev-2", "NoticePaid", status="PAID", seq=2))
    response = await get("bo_journal", JOURNAL, ec=EC)
    assert response.status_code == 200
    items = json.loads(response.get_body())["items"]
    assert [(i["id"], i["kind"], i["object"]) for i in items] == [
        ("ev-2", "position.paid", NAV),
        ("ev-1", "position.created", NAV),
    ]
    paid = await get("bo_journal", JOURNAL, ec=EC, kind="position.paid")
    assert [i["id"] for i in json.loads(paid.get_body())["items"]] == ["ev-2"]


async def test_the_csv_export_has_every_entry(root: JournalRoot) -> None:
    await consume(event("ev-1"))
    await consume(event("ev-2", "NoticeUpdated", amount=9_000, seq=2))
    response = await get("bo_journal_csv", JOURNAL + ".csv", ec=EC)
    assert response.status_code == 200
    assert response.mimetype.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode())))
    assert [(r["id"], r["kind"], r["object"]) for r in rows] == [
        ("ev-2", "position.updated", NAV),
        ("ev-1", "position.created", NAV),
    ]
    assert json.loads(rows[0]["fields"])["amount"] == 9_000


async def test_a_user_of_another_ec_is_refused(root: JournalRoot) -> None:
    await consume(event("ev-1"))
    assert (await get("bo_journal", JOURNAL, user=STRANGER, ec=EC)).status_code == 403
    await root.users.put(STRANGER, UserIn(name="X", ecs={"88888888888": "editor"}), now=NOW)
    assert (await get("bo_journal", JOURNAL, user=STRANGER, ec=EC)).status_code == 403
    assert (await get("bo_journal_csv", JOURNAL + ".csv", user=STRANGER, ec=EC)).status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ec": "1"},
        {"ec": EC, "kind": "nope"},
        {"ec": EC, "from": "2026-13-01"},
        {"ec": EC, "pageSize": "0"},
        {"ec": EC, "cursor": "!!"},
        {"ec": EC, "object": "a b"},
    ],
)
async def test_a_bad_search_is_400(root: JournalRoot, params: dict[str, str]) -> None:
    assert (await get("bo_journal", JOURNAL, **params)).status_code == 400


async def test_me_answers_while_the_journal_is_down_and_the_sign_in_arrives_once(
    root: JournalRoot,
) -> None:
    root.journal_store.down = True
    headers = {PRINCIPAL_HEADER: encode_principal(VIEWER, "Marco"), "X-Client-IP": "203.0.113.7"}
    for _ in range(2):  # the page loaded twice in one session
        me = await trigger(app, "bo_me")(request("GET", "bo/v1/me", headers=headers))
        assert me.status_code == 200, me.get_body()
    assert root.journal_store.documents == {}
    queue = root.settings.journal_queue
    sent = [m for q, m in root.sender.sent if q == queue]
    assert len(sent) == 2
    with pytest.raises(DependencyError):  # the consumer fails: the message comes again
        await consume(sent[0].body)
    root.journal_store.down = False
    for message in sent:
        await consume(message.body)
    items = json.loads((await get("bo_journal", JOURNAL, ec=EC, kind="signin")).get_body())["items"]
    assert [(i["who"]["objectId"], i["from"]) for i in items] == [(VIEWER, "203.0.113.7")]


async def test_me_answers_while_the_broker_is_down(root: JournalRoot) -> None:
    root.sender.fail_with = DependencyError("servicebus", "down")
    headers = {PRINCIPAL_HEADER: encode_principal(VIEWER, "Marco")}
    me = await trigger(app, "bo_me")(request("GET", "bo/v1/me", headers=headers))
    assert me.status_code == 200
    assert [e["fiscalCode"] for e in json.loads(me.get_body())["ecs"]] == [EC]


def test_there_is_no_route_that_changes_an_entry() -> None:
    bindings = [fn.get_trigger().get_dict_repr() for fn in functions(app).values()]
    routes = [b for b in bindings if "journal" in str(b.get("route", ""))]
    assert {b["route"] for b in routes} == {JOURNAL, JOURNAL + ".csv"}
    assert all(
        [str(getattr(m, "value", m)).upper() for m in b["methods"]] == ["GET"] for b in routes
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Client-IP": "203.0.113.7"}, "203.0.113.7"),
        ({"X-Forwarded-For": "203.0.113.7:51234, 10.0.0.1"}, "203.0.113.7"),
        ({"X-Forwarded-For": "[2001:db8::1]:443"}, "2001:db8::1"),
        ({"X-Forwarded-For": "[fe80::1%" + "a" * 100 + "]:443"}, "fe80::1"),
        ({"X-Forwarded-For": "fe80::1%eth0"}, "fe80::1"),
        ({"X-Forwarded-For": "not an address"}, None),
        ({}, None),
    ],
)
def test_the_client_ip_is_read_as_app_service_passes_it(
    headers: dict[str, str], expected: str | None
) -> None:
    assert client_ip(request("GET", JOURNAL, headers=headers)) == expected
