"""The wallet's triggers called directly with func.HttpRequest, on a root of in-memory fakes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from functions.root import use_root
from shared.platform.clock import SystemClock, use_clock
from shared.platform.config import Settings, get_settings, load_settings
from shared.wallet.psp import HttpPspGateway
from shared.wallet.service import Wallet
from tests.app import app
from tests.conftest import base_settings
from tests.functions.fakes import NOW, PUBLIC_PEM, FakeRoot, request, trigger
from tests.unit.wallet.fakes import CF, NOTIFY_URL, OTHER_CF, FakeSecrets, World, card, signed

INSTRUMENTS = "v1/wallet/instruments"


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


async def onboard(root: WalletRoot, cf: str = CF) -> str:
    created = await call(
        "wallet_start_onboarding",
        "POST",
        INSTRUMENTS,
        body={"type": "CARD", "applications": ["PAGOPA"]},
        headers=root.citizen(cf),
    )
    assert created.status_code == 201, created.get_body()
    wallet_id: str = parsed(created)["walletId"]
    return wallet_id


async def notify(
    root: WalletRoot, wallet_id: str, outcome: str = "OK", details: dict[str, Any] | None = None
) -> func.HttpResponse:
    body = {
        "walletId": wallet_id,
        "sessionId": root.world.session_of(wallet_id),
        "outcome": outcome,
        "details": card() if details is None else details,
    }
    raw, header = signed(body, at=root.world.now)
    return await call(
        "wallet_psp_notification",
        "POST",
        "v1/wallet/psp/notifications",
        raw=raw,
        headers={"x-signature": header},
    )


async def test_onboarding_answers_201_with_the_psp_page(root: WalletRoot) -> None:
    created = await call(
        "wallet_start_onboarding",
        "POST",
        INSTRUMENTS,
        body={"type": "BPAY"},
        headers=root.citizen(),
    )
    assert created.status_code == 201
    body = parsed(created)
    assert set(body) == {"walletId", "status", "redirectUrl"}
    assert body["status"] == "CREATED"
    [opened] = root.world.psp.opened
    assert (opened["type"], opened["notificationUrl"]) == ("BPAY", NOTIFY_URL)


async def test_a_host_header_never_chooses_where_the_psp_posts(root: WalletRoot) -> None:
    created = await trigger(app, "wallet_start_onboarding")(
        func.HttpRequest(
            method="POST",
            url="http://attacker.example:4444/api/v1/wallet/instruments",
            headers={**root.citizen(), "Host": "attacker.example:4444"},
            params={},
            route_params={},
            body=json.dumps({"type": "CARD"}).encode(),
        )
    )
    assert created.status_code == 201, created.get_body()
    [opened] = root.world.psp.opened
    assert opened["notificationUrl"] == NOTIFY_URL


async def test_without_a_notification_url_onboarding_is_refused_and_health_says_why() -> None:
    fake = WalletRoot(WALLET_NOTIFICATION_URL="")
    use_root(fake)
    use_clock(fake.clock)
    os.environ.update({**base_settings(), "CITIZEN_JWT_PUBLIC_KEY": PUBLIC_PEM})
    get_settings.cache_clear()
    try:
        refused = await call(
            "wallet_start_onboarding",
            "POST",
            INSTRUMENTS,
            body={"type": "CARD"},
            headers=fake.citizen(),
        )
        health = await call("health", "GET", "health")
    finally:
        get_settings.cache_clear()
        use_root(None)
        use_clock(SystemClock())
    assert refused.status_code == 500
    assert refused.mimetype == "application/problem+json"
    assert fake.world.psp.opened == []
    assert fake.world.store.items == {}
    assert health.status_code == 503
    check = json.loads(health.get_body())["checks"]["configuration"]
    assert "WALLET_NOTIFICATION_URL is not set" in check["detail"]


async def test_list_read_notify_apps_and_delete(root: WalletRoot) -> None:
    wallet_id = await onboard(root)
    ack = await notify(root, wallet_id)
    assert ack.status_code == 200
    assert parsed(ack) == {"walletId": wallet_id, "sessionId": "sess-1", "outcome": "OK"}
    listed = await call("wallet_list_instruments", "GET", INSTRUMENTS, headers=root.citizen())
    [item] = parsed(listed)["instruments"]
    assert (item["walletId"], item["status"], item["details"]["last4"]) == (
        wallet_id,
        "VALIDATED",
        "4242",
    )
    assert "hpan" not in json.dumps(item)
    path = f"{INSTRUMENTS}/{wallet_id}"
    read = await call(
        "wallet_get_instrument", "GET", path, headers=root.citizen(), walletId=wallet_id
    )
    assert parsed(read) == item
    off = await call(
        "wallet_set_applications",
        "PUT",
        f"{path}/applications",
        body={"applications": [{"name": "PAGOPA", "status": "DISABLED"}]},
        headers=root.citizen(),
        walletId=wallet_id,
    )
    assert parsed(off)["applications"] == [{"name": "PAGOPA", "status": "DISABLED"}]
    for _ in range(2):
        deleted = await call(
            "wallet_delete_instrument", "DELETE", path, headers=root.citizen(), walletId=wallet_id
        )
        assert (deleted.status_code, deleted.get_body()) == (204, b"")
    assert [e["type"] for e in root.world.events()] == [
        "InstrumentValidated",
        "ApplicationChanged",
        "InstrumentDeleted",
    ]


async def test_someone_elses_instrument_is_a_404_problem(root: WalletRoot) -> None:
    wallet_id = await onboard(root, OTHER_CF)
    for name, method in (("wallet_get_instrument", "GET"), ("wallet_delete_instrument", "DELETE")):
        response = await call(
            name, method, f"{INSTRUMENTS}/{wallet_id}", headers=root.citizen(), walletId=wallet_id
        )
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert parsed(response)["instance"] == f"/api/{INSTRUMENTS}/{wallet_id}"


async def test_the_21st_live_instrument_is_a_409(root: WalletRoot) -> None:
    for _ in range(20):
        await onboard(root)
    refused = await call(
        "wallet_start_onboarding",
        "POST",
        INSTRUMENTS,
        body={"type": "CARD"},
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
        (b'{"type": "CARD", "pan": "4242424242424242"}', 422),
        (b'{"type": "card"}', 422),
        (b'{"type": "CARD", "applications": [1]}', 422),
        (b'{"type": "CARD", "x": "' + b"y" * 5000 + b'"}', 413),
    ],
)
async def test_bad_onboarding_bodies(root: WalletRoot, raw: bytes, status: int) -> None:
    response = await call(
        "wallet_start_onboarding", "POST", INSTRUMENTS, raw=raw, headers=root.citizen()
    )
    assert response.status_code == status
    assert b"4242424242424242" not in response.get_body()
    assert root.world.psp.opened == []


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
    wallet_id = await onboard(root)
    response = await call(
        "wallet_set_applications",
        "PUT",
        f"{INSTRUMENTS}/{wallet_id}/applications",
        body=body,
        headers=root.citizen(),
        walletId=wallet_id,
    )
    assert response.status_code == 422


async def test_notifications_without_a_good_signature_are_401(root: WalletRoot) -> None:
    wallet_id = await onboard(root)
    body = {"walletId": wallet_id, "sessionId": "sess-1", "outcome": "OK", "details": card()}
    raw, header = signed(body, at=root.world.now, secret="forged")
    for headers in ({}, {"x-signature": header}, {"x-signature": "t=abc"}):
        response = await call(
            "wallet_psp_notification",
            "POST",
            "v1/wallet/psp/notifications",
            raw=raw,
            headers=headers,
        )
        assert response.status_code == 401
    assert root.world.stored(CF, wallet_id)["status"] == "CREATED"


async def test_a_citizen_endpoint_without_a_token_is_401(root: WalletRoot) -> None:
    response = await call("wallet_list_instruments", "GET", INSTRUMENTS)
    assert response.status_code == 401
    assert parsed(response)["detail"] == "missing Authorization header"


async def test_a_psp_that_cannot_be_reached_is_a_503_with_retry_after(root: WalletRoot) -> None:
    world = root.world
    gateway = HttpPspGateway(
        lambda: root.clients.session("psp"),
        base_url="http://127.0.0.1:9",
        secrets=FakeSecrets(),
        clock=root.clock,
        timeout=2,
    )
    world.wallet = Wallet(
        store=world.store,
        psp=gateway,
        secrets=FakeSecrets(),
        wallet_ids=world.ids,
        publisher=world.publisher,
        policy=world.wallet._policy,
    )
    try:
        refused = await call(
            "wallet_start_onboarding",
            "POST",
            INSTRUMENTS,
            body={"type": "CARD"},
            headers=root.citizen(),
        )
    finally:
        await root.clients.close()
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert "psp" in parsed(refused)["detail"]
    assert world.store.items == {}
