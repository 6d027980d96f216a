"""The payment transactions' triggers called directly, on a root whose payments run on the
in-memory fakes of tests/fakes/payments_tx.py: statuses, bodies and problem codes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest

from functions.root import use_root
from shared.payments.paying import Payments
from shared.platform.clock import FixedClock, SystemClock, use_clock
from tests.app import app
from tests.functions.fakes import FakeRoot, request, trigger
from tests.unit.payments.test_payments_transactions import EC, NOTICE, W1, World

CF = "RSSMRA85T10A562S"
OTHER_CF = "VRDGPP80A01H501U"
TRANSACTIONS = "v1/payments/transactions"


class PaymentsRoot(FakeRoot):
    def __init__(self) -> None:
        super().__init__()
        self.world = World()

    def payments(self) -> Payments:
        return self.world.payments

    def citizen(self, cf: str = CF) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(cf)}"}


@pytest.fixture
async def root() -> AsyncIterator[PaymentsRoot]:
    fake = PaymentsRoot()
    fake.world.wallet.add(await fake.user_ids().of(CF), W1)
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


async def call(
    name: str, method: str, path: str, *, body: Any = None, headers: dict[str, str], **route: str
) -> func.HttpResponse:
    data = b"" if body is None else json.dumps(body).encode()
    response: func.HttpResponse = await trigger(app, name)(
        request(method, path, body=data, headers=headers, route_params=route)
    )
    return response


def parsed(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


async def created(root: PaymentsRoot) -> dict[str, Any]:
    answer = await call(
        "payments_create",
        "POST",
        TRANSACTIONS,
        body={"noticeCode": NOTICE, "ecFiscalCode": EC},
        headers=root.citizen(),
    )
    assert answer.status_code == 201, answer.get_body()
    body: dict[str, Any] = parsed(answer)
    return body


async def confirm(root: PaymentsRoot, transaction_id: str, key: str = "tap-1") -> func.HttpResponse:
    return await call(
        "payments_authorize",
        "POST",
        f"{TRANSACTIONS}/{transaction_id}/auth-requests",
        body={"walletId": W1, "idempotencyKey": key},
        headers=root.citizen(),
        transactionId=transaction_id,
    )


async def test_a_new_transaction_shows_what_will_be_charged(root: PaymentsRoot) -> None:
    body = await created(root)
    assert body["status"] == "ACTIVATED"
    assert (body["amount"], body["fee"], body["total"]) == (12550, 100, 12650)
    assert body["ecName"] == "Comune di Prova"
    assert "expiresAt" in body
    assert "payerFiscalCode" not in body


async def test_a_malformed_scan_is_a_problem_naming_the_part(root: PaymentsRoot) -> None:
    answer = await call(
        "payments_create",
        "POST",
        TRANSACTIONS,
        body={"scanned": f"PAGOPA|002|{NOTICE}|{EC}|12,50"},
        headers=root.citizen(),
    )
    assert answer.status_code == 422
    assert parsed(answer)["code"] == "BAD_AMOUNT"


async def test_a_confirmation_pays_and_a_double_tap_answers_the_same(root: PaymentsRoot) -> None:
    transaction_id = (await created(root))["transactionId"]
    first, again = await confirm(root, transaction_id), await confirm(root, transaction_id)
    assert (first.status_code, again.status_code) == (200, 200)
    assert parsed(first)["status"] == parsed(again)["status"] == "NOTIFIED_OK"
    assert root.world.gateway.requests == 1
    other = await confirm(root, transaction_id, key="tap-2")
    assert other.status_code == 409
    assert parsed(other)["code"] == "OTHER_CONFIRMATION"


async def test_another_citizen_gets_404(root: PaymentsRoot) -> None:
    transaction_id = (await created(root))["transactionId"]
    answer = await call(
        "payments_get",
        "GET",
        f"{TRANSACTIONS}/{transaction_id}",
        headers=root.citizen(OTHER_CF),
        transactionId=transaction_id,
    )
    assert answer.status_code == 404


async def test_an_expired_token_is_410_and_nothing_is_charged(root: PaymentsRoot) -> None:
    transaction_id = (await created(root))["transactionId"]
    assert isinstance(root.clock, FixedClock)
    root.clock.advance(31 * 60)
    answer = await confirm(root, transaction_id)
    assert answer.status_code == 410
    assert parsed(answer)["code"] == "TOKEN_EXPIRED"
    assert root.world.gateway.requests == 0


async def test_a_canceled_transaction_is_returned_canceled(root: PaymentsRoot) -> None:
    transaction_id = (await created(root))["transactionId"]
    answer = await call(
        "payments_cancel",
        "DELETE",
        f"{TRANSACTIONS}/{transaction_id}",
        headers=root.citizen(),
        transactionId=transaction_id,
    )
    assert answer.status_code == 200
    assert parsed(answer)["status"] == "CANCELED"
