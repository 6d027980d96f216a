"""The notices' routes and the index's queue consumer, called directly on in-memory ports:
an archive event taken from the queue shows in the caller's list, once, and pushes once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from functools import cached_property
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.root import use_root
from shared.parties.models import PartyIn
from shared.payments.index_service import NoticeIndex
from shared.payments.notify import PaymentsNotifier
from shared.platform.clock import SystemClock, use_clock
from shared.push.models import Notify
from shared.push.service import PushRequests
from tests.app import app
from tests.fakes.payments_index import MemoryIndexStore, user_ids
from tests.fakes.push import MemoryInstallationStates, MemorySenderUsage
from tests.functions.fakes import NOW, FakeRoot, request, trigger

CF = "RSSMRA85T10A562S"
OTHER_CF = "VRDGPP80A01H501K"
NOTICES = "v1/payments/notices"


class Parts:
    def __init__(self, root: FakeRoot) -> None:
        self.store = MemoryIndexStore()
        push = PushRequests(root.sender, root.settings.push_queue, MemorySenderUsage())
        self.index = NoticeIndex(
            self.store, user_ids(), PaymentsNotifier(push, root.parties(), root.clock)
        )


class IndexRoot(FakeRoot):
    @cached_property
    def notice_index_parts(self) -> Parts:  # type: ignore[override]
        return Parts(self)

    def citizen(self, cf: str = CF) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(cf)}"}

    def pushes(self) -> list[Notify]:
        return [
            Notify.model_validate_json(m.body)
            for q, m in self.sender.sent
            if q == self.settings.push_queue
        ]


@pytest.fixture
async def root() -> Iterator[IndexRoot]:
    fake = IndexRoot()
    await fake.parties().register(
        PartyIn.model_validate(
            {
                "partyId": "payments",
                "name": "Payments",
                "role": "sender",
                "sendLimits": {"requestsPerMinute": 1, "recipientsPerMinute": 1},
            }
        ),
        now=NOW,
    )
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


def event(seq: int, status: str = "VALID", n: int = 1, **data: Any) -> bytes:
    return json.dumps(
        {
            "id": f"ev-{n}-{seq}",
            "type": "NoticeCreated" if seq == 1 else "NoticeUpdated",
            "createdAt": (NOW - timedelta(hours=10 - n)).isoformat(),
            "data": {
                "ecFiscalCode": "77777777777",
                "ecName": "Comune di Demo",
                "noticeCode": f"30100000000000000{n}",
                "iupd": f"ACA_77777777777_0100000000000000{n}",
                "iuv": f"0100000000000000{n}",
                "debtorFiscalCode": CF,
                "description": "TARI 2026",
                "amount": 12_050,
                "dueDate": "2027-01-31T23:00:00Z",
                "switchToExpired": False,
                "status": status,
                "paidAt": None,
                "publishedAt": (NOW - timedelta(hours=10 - n)).isoformat(),
                "seq": seq,
                **data,
            },
        }
    ).encode()


async def consume(body: bytes, message_id: str = "m-1") -> None:
    message = ServiceBusMessage(
        body=body,
        message_id=message_id,
        delivery_count=1,
        application_properties={},
        user_properties={},
    )
    await trigger(app, "payments_notices_index")(message)


async def get(root: IndexRoot, path: str, name: str, **params: str) -> func.HttpResponse:
    response: func.HttpResponse = await trigger(app, name)(
        request("GET", path, headers=root.citizen(), params=params)
    )
    return response


async def test_an_event_from_the_queue_lists_the_notice_and_pushes_once(root: IndexRoot) -> None:
    await consume(event(1))
    await consume(event(1))  # redelivered
    response = await get(root, NOTICES, "payments_notices")
    assert response.status_code == 200
    (item,) = json.loads(response.get_body())["items"]
    assert item["noticeCode"] == "301000000000000001"
    assert item["ecName"] == "Comune di Demo"
    assert item["amount"] == 12_050
    assert item["payableNow"] is True
    assert item["status"] == "VALID"
    pushes = root.pushes()
    assert len({m.message_id for _, m in root.sender.sent}) == 1
    assert pushes[0].title == "Hai un nuovo avviso da pagare"
    assert pushes[0].sender == "payments"


async def test_a_paid_notice_moves_to_the_history(root: IndexRoot) -> None:
    await consume(event(1, n=1))
    await consume(event(1, n=2))
    await consume(event(2, "PAID", n=1, paidAt=NOW.isoformat()))
    open_ = json.loads((await get(root, NOTICES, "payments_notices")).get_body())
    history = json.loads(
        (await get(root, NOTICES + "/history", "payments_notices_history")).get_body()
    )
    assert [i["noticeCode"] for i in open_["items"]] == ["301000000000000002"]
    assert [(i["noticeCode"], i["status"]) for i in history["items"]] == [
        ("301000000000000001", "PAID")
    ]


async def test_pages_carry_a_token_until_the_last(root: IndexRoot) -> None:
    for n in (1, 2, 3):
        await consume(event(1, n=n))
    first = json.loads((await get(root, NOTICES, "payments_notices", limit="2")).get_body())
    assert [i["noticeCode"][-1] for i in first["items"]] == ["3", "2"]
    second = json.loads(
        (
            await get(
                root,
                NOTICES,
                "payments_notices",
                limit="2",
                continuationToken=first["continuationToken"],
            )
        ).get_body()
    )
    assert [i["noticeCode"][-1] for i in second["items"]] == ["1"]
    assert "continuationToken" not in second or second["continuationToken"] is None


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "x"}, {"continuationToken": "!"}])
async def test_bad_paging_is_a_problem(root: IndexRoot, params: dict[str, str]) -> None:
    response = await get(root, NOTICES, "payments_notices", **params)
    assert response.status_code in (400, 422)
    assert response.mimetype == "application/problem+json"


async def test_without_a_token_the_list_is_401(root: IndexRoot) -> None:
    response: func.HttpResponse = await trigger(app, "payments_notices")(request("GET", NOTICES))
    assert response.status_code == 401


async def test_a_bad_message_becomes_failed_work(root: IndexRoot) -> None:
    await consume(b"{not json", message_id="bad-1")
    assert [item.message_id for item in root.failed_work.items.values()] == ["bad-1"]


class PreferencesRoot(IndexRoot):
    @cached_property
    def _push_states(self) -> MemoryInstallationStates:  # type: ignore[override]
        return MemoryInstallationStates()


@pytest.fixture
def prefs_root() -> Iterator[PreferencesRoot]:
    fake = PreferencesRoot()
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


async def test_preferences_are_put_and_read_back(prefs_root: PreferencesRoot) -> None:
    headers = prefs_root.citizen()
    got: func.HttpResponse = await trigger(app, "get_push_preferences")(
        request("GET", "v1/push/preferences", headers=headers)
    )
    assert json.loads(got.get_body()) == {"newNotice": True, "paymentReceived": True}
    put: func.HttpResponse = await trigger(app, "put_push_preferences")(
        request(
            "PUT",
            "v1/push/preferences",
            headers=headers,
            body=json.dumps({"newNotice": False, "paymentReceived": True}).encode(),
        )
    )
    assert put.status_code == 200, put.get_body()
    again: func.HttpResponse = await trigger(app, "get_push_preferences")(
        request("GET", "v1/push/preferences", headers=headers)
    )
    assert json.loads(again.get_body()) == {"newNotice": False, "paymentReceived": True}


async def test_an_unknown_preference_is_refused(prefs_root: PreferencesRoot) -> None:
    response: func.HttpResponse = await trigger(app, "put_push_preferences")(
        request(
            "PUT",
            "v1/push/preferences",
            headers=prefs_root.citizen(),
            body=json.dumps({"marketing": False}).encode(),
        )
    )
    assert response.status_code == 422
