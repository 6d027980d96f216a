"""The wallet's triggers called directly with func.HttpRequest, on a root of in-memory fakes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from functions.root import use_root
from shared.auth.user_ids import UserIds
from shared.platform.clock import SystemClock, use_clock
from shared.platform.config import Settings, get_settings, load_settings
from shared.wallet.psp import HttpPspGateway
from shared.wallet.service import Wallet
from tests.app import app
from tests.conftest import base_settings
from tests.functions.fakes import NOW, PUBLIC_PEM, FakeRoot, request, trigger
from tests.unit.wallet.fakes import CARD_METHOD, CF, NOTIFY_URL, OTHER_CF, World

WALLETS = "v1/wallets"


class WalletRoot(FakeRoot):
    """The fake root, with the wallet on in-memory ports and the world's clock."""

    def __init__(self, **settings: str) -> None:
        super().__init__()
        self._settings = load_settings(
            {
                **base_settings(),
                "CITIZEN_JWT_PUBLIC_KEY": PUBLIC_PEM,
                "WALLET_NOTIFICATION_URL": NOTIFY_URL,
                **settings,
            }
        )
        self.world = World(now=NOW, notification_url=self._settings.wallet_notification_url)
        self.clock = self.world.clock

    @property
    def settings(self) -> Settings:
        return self._settings

    def wallet(self) -> Wallet:
        return self.world.wallet

    def user_ids(self) -> UserIds:
        return self.world.user_ids

    def citizen(self, cf: str = CF) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(cf)}"}


@pytest.fixture
def root() -> Iterator[WalletRoot]:
    fake = WalletRoot()
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


async def call(
    name: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    **route: str,
) -> func.HttpResponse:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    response: func.HttpResponse = await trigger(app, name)(
        request(method, path, body=data, headers=headers, route_params=route)
    )
    return response


def parsed(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


async def create(root: WalletRoot, cf: str = CF) -> str:
    created = await call(
        "wallet_create",
        "POST",
        WALLETS,
        body={"paymentMethodId": CARD_METHOD, "applications": ["PAGOPA"]},
        headers=root.citizen(cf),
    )
    assert created.status_code == 201, created.get_body()
    wallet_id: str = parsed(created)["walletId"]
    return wallet_id


async def requested(root: WalletRoot, cf: str = CF) -> tuple[str, str]:
    """A wallet through its first three steps over the triggers: (walletId, orderId)."""
    wallet_id = await create(root, cf)
    opened = await call(
        "wallet_open_session",
        "POST",
        f"{WALLETS}/{wallet_id}/sessions",
        body={"paymentMethodType": "cards"},
        headers=root.citizen(cf),
        walletId=wallet_id,
    )
    assert opened.status_code == 200, opened.get_body()
    order_id: str = parsed(opened)["orderId"]
    root.world.psp.type_card(wallet_id)
    asked = await call(
        "wallet_validate",
        "POST",
        f"{WALLETS}/{wallet_id}/sessions/{order_id}/validations",
        headers=root.citizen(cf),
        walletId=wallet_id,
        orderId=order_id,
    )
    assert asked.status_code == 200, asked.get_body()
    return wallet_id, order_id


def outcome(result: str = "EXECUTED", operation: str = "op-1") -> dict[str, Any]:
    return {
        "timestampOperation": "2026-12-08T09:30:00Z",
        "operationId": operation,
        "operationResult": result,
        "details": {"type": "CARD", "paymentInstrumentGatewayId": "gw-1", "hpan": "a" * 64},
    }


async def notify(
    root: WalletRoot,
    wallet_id: str,
    order_id: str,
    body: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    token = root.world.psp.order_of(wallet_id).token
    return await call(
        "wallet_notification",
        "POST",
        f"{WALLETS}/{wallet_id}/sessions/{order_id}/notifications",
        body=outcome() if body is None else body,
        headers={"Authorization": f"Bearer {token}"} if headers is None else headers,
        walletId=wallet_id,
        orderId=order_id,
    )


async def test_the_steps_answer_what_the_app_needs(root: WalletRoot) -> None:
    wallet_id = await create(root)
    opened = await call(
        "wallet_open_session",
        "POST",
        f"{WALLETS}/{wallet_id}/sessions",
        body={},
        headers=root.citizen(),
        walletId=wallet_id,
    )
    body = parsed(opened)
    order = root.world.psp.order_of(wallet_id)
    assert body == {
        "orderId": order.order_id,
        "sessionData": {
            "paymentMethodType": "cards",
            "redirectUrl": f"https://psp.example/hosted/{order.session_id}",
        },
    }
    root.world.psp.type_card(wallet_id)
    asked = await call(
        "wallet_validate",
        "POST",
        f"{WALLETS}/{wallet_id}/sessions/{order.order_id}/validations",
        headers=root.citizen(),
        walletId=wallet_id,
        orderId=order.order_id,
    )
    assert parsed(asked) == {
        "orderId": order.order_id,
        "details": {"type": "CARD", "iframeUrl": f"https://psp.example/3ds/{order.session_id}"},
    }


async def test_a_host_header_never_chooses_where_the_gateway_posts(root: WalletRoot) -> None:
    wallet_id = await create(root)
    opened = await trigger(app, "wallet_open_session")(
        func.HttpRequest(
            method="POST",
            url=f"http://attacker.example:4444/api/v1/wallets/{wallet_id}/sessions",
            headers={**root.citizen(), "Host": "attacker.example:4444"},
            params={},
            route_params={"walletId": wallet_id},
            body=b"{}",
        )
    )
    assert opened.status_code == 200, opened.get_body()
    order = root.world.psp.order_of(wallet_id)
    assert order.notification_url.startswith(NOTIFY_URL + "/")


async def test_without_a_notification_url_no_session_opens_and_health_says_why() -> None:
    fake = WalletRoot(WALLET_NOTIFICATION_URL="")
    use_root(fake)
    use_clock(fake.clock)
    os.environ.update({**base_settings(), "CITIZEN_JWT_PUBLIC_KEY": PUBLIC_PEM})
    get_settings.cache_clear()
    try:
        wallet_id = await create(fake)
        refused = await call(
            "wallet_open_session",
            "POST",
            f"{WALLETS}/{wallet_id}/sessions",
            body={},
            headers=fake.citizen(),
            walletId=wallet_id,
        )
        health = await call("health", "GET", "health")
    finally:
        get_settings.cache_clear()
        use_root(None)
        use_clock(SystemClock())
    assert refused.status_code == 500
    assert refused.mimetype == "application/problem+json"
    assert fake.world.psp.orders == {}
    assert health.status_code == 503
    check = json.loads(health.get_body())["checks"]["configuration"]
    assert "WALLET_NOTIFICATION_URL is not set" in check["detail"]


async def test_list_read_notify_apps_and_delete(root: WalletRoot) -> None:
    wallet_id, order_id = await requested(root)
    ack = await notify(root, wallet_id, order_id)
    assert ack.status_code == 200
    assert parsed(ack) == {
        "walletId": wallet_id,
        "orderId": order_id,
        "operationId": "op-1",
        "status": "VALIDATED",
    }
    again = await notify(root, wallet_id, order_id)  # the gateway retries: the same answer
    assert (again.status_code, parsed(again)) == (200, parsed(ack))
    listed = await call("wallet_list", "GET", WALLETS, headers=root.citizen())
    [item] = parsed(listed)["instruments"]
    assert (item["walletId"], item["status"], item["details"]["lastFourDigits"]) == (
        wallet_id,
        "VALIDATED",
        "4242",
    )
    assert "hpan" not in json.dumps(item)
    path = f"{WALLETS}/{wallet_id}"
    read = await call("wallet_get", "GET", path, headers=root.citizen(), walletId=wallet_id)
    assert parsed(read) == item
    off = await call(
        "wallet_set_applications",
        "PUT",
        f"{path}/applications",
        body={"applications": [{"name": "PAGOPA", "status": "DISABLED"}]},
        headers=root.citizen(),
        walletId=wallet_id,
    )
    assert parsed(off)["instrument"]["applications"] == [{"name": "PAGOPA", "status": "DISABLED"}]
    assert parsed(off)["failedApplications"] == []
    for _ in range(2):
        deleted = await call(
            "wallet_delete", "DELETE", path, headers=root.citizen(), walletId=wallet_id
        )
        assert (deleted.status_code, deleted.get_body()) == (204, b"")
    assert [e["type"] for e in root.world.events()] == [
        "InstrumentValidated",
        "ApplicationChanged",
        "InstrumentDeleted",
    ]


async def test_someone_elses_instrument_is_a_404_problem(root: WalletRoot) -> None:
    wallet_id = await create(root, OTHER_CF)
    for name, method in (("wallet_get", "GET"), ("wallet_delete", "DELETE")):
        response = await call(
            name, method, f"{WALLETS}/{wallet_id}", headers=root.citizen(), walletId=wallet_id
        )
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert parsed(response)["instance"] == f"/api/{WALLETS}/{wallet_id}"


async def test_the_21st_live_instrument_is_a_409(root: WalletRoot) -> None:
    for _ in range(20):
        await create(root)
    refused = await call(
        "wallet_create",
        "POST",
        WALLETS,
        body={"paymentMethodId": CARD_METHOD},
        headers=root.citizen(),
    )
    assert refused.status_code == 409
    assert "at most 20" in parsed(refused)["detail"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"{", 400),
        (b"null", 422),
        (b'{"paymentMethodId": "' + CARD_METHOD.encode() + b'", "pan": "4242424242424242"}', 422),
        (b'{"paymentMethodId": "cards"}', 422),
        (b'{"paymentMethodId": "1c12349f-8133-42f3-ad96-7e6527d27a41"}', 422),  # PayPal
        (b'{"paymentMethodId": "' + CARD_METHOD.encode() + b'", "applications": [1]}', 422),
        (b'{"x": "' + b"y" * 5000 + b'"}', 413),
    ],
)
async def test_bad_creation_bodies(root: WalletRoot, raw: bytes, status: int) -> None:
    response = await call("wallet_create", "POST", WALLETS, raw=raw, headers=root.citizen())
    assert response.status_code == status
    assert b"4242424242424242" not in response.get_body()
    assert root.world.store.items == {}


@pytest.mark.parametrize(
    "body",
    [
        {"applications": []},
        {"applications": [{"name": "CASHBACK", "status": "ENABLED"}]},
        {"applications": [{"name": "PAGOPA", "status": "ON"}]},
        {"applications": [{"name": "PAGOPA", "status": "ENABLED", "extra": 1}]},
    ],
)
async def test_bad_application_updates_are_422(root: WalletRoot, body: dict[str, Any]) -> None:
    wallet_id = await create(root)
    response = await call(
        "wallet_set_applications",
        "PUT",
        f"{WALLETS}/{wallet_id}/applications",
        body=body,
        headers=root.citizen(),
        walletId=wallet_id,
    )
    assert response.status_code == 422


async def test_notifications_without_this_sessions_token_are_401(root: WalletRoot) -> None:
    wallet_id, order_id = await requested(root)
    for headers in (
        {},
        {"Authorization": "Bearer forged"},
        {"Authorization": "Basic abc"},
        {"x-signature": "t=1,v1=00"},
    ):
        response = await notify(root, wallet_id, order_id, headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
    assert root.world.stored(CF, wallet_id)["status"] == "VALIDATION_REQUESTED"


@pytest.mark.parametrize(
    "body",
    [
        {"operationId": "op-1", "operationResult": "EXECUTED"},  # no timestamp
        {**outcome(), "operationResult": "OK"},
        {
            **outcome(),
            "details": {"type": "CARD", "paymentInstrumentGatewayId": "4242424242424242"},
        },
    ],
)
async def test_notifications_outside_the_contract_are_400(
    root: WalletRoot, body: dict[str, Any]
) -> None:
    wallet_id, order_id = await requested(root)
    response = await notify(root, wallet_id, order_id, body)
    assert response.status_code == 400
    assert b"4242424242424242" not in response.get_body()
    assert root.world.stored(CF, wallet_id)["status"] == "VALIDATION_REQUESTED"


async def test_a_citizen_endpoint_without_a_token_is_401(root: WalletRoot) -> None:
    response = await call("wallet_list", "GET", WALLETS)
    assert response.status_code == 401
    assert parsed(response)["detail"] == "missing Authorization header"


class _Secrets:
    async def secret_of(self, psp_id: str) -> str:
        return "functions-test-psp-secret"


async def test_a_gateway_that_cannot_be_reached_is_a_503_with_retry_after(
    root: WalletRoot,
) -> None:
    world = root.world
    wallet_id = await create(root)
    gateway = HttpPspGateway(
        lambda: root.clients.session("psp"),
        base_url="http://127.0.0.1:9",
        secrets=_Secrets(),
        clock=root.clock,
        timeout=2,
    )
    world.wallet = Wallet(
        store=world.store,
        psp=gateway,
        wallet_ids=world.ids,
        publisher=world.publisher,
        policy=world.wallet._policy,
    )
    try:
        refused = await call(
            "wallet_open_session",
            "POST",
            f"{WALLETS}/{wallet_id}/sessions",
            body={},
            headers=root.citizen(),
            walletId=wallet_id,
        )
    finally:
        await root.clients.close()
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert "psp" in parsed(refused)["detail"]
    assert world.stored(CF, wallet_id)["status"] == "CREATED"


async def validated(root: WalletRoot, cf: str = CF) -> str:
    wallet_id, order_id = await requested(root, cf)
    assert (await notify(root, wallet_id, order_id)).status_code == 200
    return wallet_id


async def test_payment_methods_come_from_configuration(root: WalletRoot) -> None:
    listed = parsed(
        await call("wallet_payment_methods", "GET", "v1/payment-methods", headers=root.citizen())
    )
    by_name = {m["name"]: m for m in listed["paymentMethods"]}
    assert {"CARDS", "PAYPAL", "BANCOMATPAY"} <= set(by_name)
    assert by_name["CARDS"]["id"] == CARD_METHOD
    assert by_name["CARDS"]["status"] == "ENABLED"
    assert by_name["CARDS"]["ranges"][0]["min"] == 0


async def test_favourite_auth_data_helpdesk_and_closure(root: WalletRoot) -> None:
    first = await validated(root)
    second, _ = await requested(root)
    path = f"{WALLETS}/{first}"
    favourite = await call(
        "wallet_set_favourite", "PUT", f"{path}/favourite", headers=root.citizen(), walletId=first
    )
    assert (favourite.status_code, parsed(favourite)["favourite"]) == (200, True)
    listed = parsed(await call("wallet_list", "GET", WALLETS, headers=root.citizen()))
    assert [i["walletId"] for i in listed["instruments"]] == [first, second]
    pending = await call(
        "wallet_set_favourite",
        "PUT",
        f"{WALLETS}/{second}/favourite",
        headers=root.citizen(),
        walletId=second,
    )
    assert pending.status_code == 409
    auth = await call("wallet_auth_data", "GET", f"{path}/auth-data", walletId=first)
    assert parsed(auth) == {
        "walletId": first,
        "contractId": root.world.psp.order_of(first).contract_id,
        "brand": "VISA",
        "paymentMethodData": {"paymentMethodType": "cards", "bin": "424242"},
    }
    user = root.world.user_ids
    helpdesk = parsed(
        await call(
            "wallet_helpdesk",
            "GET",
            "ops/wallet/users/x/wallets",
            userId=await user.of(CF),
        )
    )
    assert {i["walletId"] for i in helpdesk["instruments"]} == {first, second}
    unknown = await call("wallet_helpdesk", "GET", "ops/wallet/users/x/wallets", userId=CF)
    assert unknown.status_code == 404  # a fiscal code is not a user id
    closed = await call("wallet_delete_all", "DELETE", WALLETS, headers=root.citizen())
    assert closed.status_code == 204
    listed = parsed(await call("wallet_list", "GET", WALLETS, headers=root.citizen()))
    assert listed["instruments"] == []


async def test_a_partial_update_of_applications_is_409_listing_what_failed() -> None:
    fake = WalletRoot()
    fake.world = World(
        now=NOW, notification_url=NOTIFY_URL, disabled_applications=frozenset({"PAGOPA"})
    )
    use_root(fake)
    use_clock(fake.world.clock)
    try:
        wallet_id = await validated(fake)
        answer = await call(
            "wallet_set_applications",
            "PUT",
            f"{WALLETS}/{wallet_id}/applications",
            body={"applications": [{"name": "PAGOPA", "status": "ENABLED"}]},
            headers=fake.citizen(),
            walletId=wallet_id,
        )
    finally:
        use_root(None)
        use_clock(SystemClock())
    assert answer.status_code == 409
    body = parsed(answer)
    assert body["updatedApplications"] == []
    assert body["failedApplications"] == [{"name": "PAGOPA", "status": "ENABLED"}]


@pytest.mark.parametrize("when", [1733650000, "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"])
async def test_a_notifications_time_is_a_bounded_date(root: WalletRoot, when: object) -> None:
    wallet_id, order_id = await requested(root)
    response = await notify(root, wallet_id, order_id, {**outcome(), "timestampOperation": when})
    assert response.status_code == 400
    assert root.world.stored(CF, wallet_id)["status"] == "VALIDATION_REQUESTED"
