"""A citizen pays a notice end to end through the dev host: a notice published by the demo EC
appears in the citizen's list (and the "new notice" push reaches their device), a card onboarded
through the gateway simulator, the transaction created, confirmed (twice: a double tap), charged
on the card's contract, reported to the node, the notice PAID in the archive and in the citizen's
history, the receipt delivered to the EC's station, the citizen's receipt listed and its PDF
downloaded (amount and notice code read back), the "payment received" push delivered; the same
in stand-in; a host killed between the charge and the outcome completes exactly once after a
restart."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pypdf import PdfReader

from local.devauth import COOKIE, DEMO_VIEWER, session_cookie
from local.platform import DEMO_EC, DEMO_STATION, Platform
from tests.conftest import ADMIN_KEY, Host, start_host, wait_for
from tests.e2e.test_push import installed, register, sends_to
from tests.e2e.test_standin import delivered, new_notices, position_status, standin_env
from tests.e2e.test_wallet import CF, Onboarding, citizen, onboarded
from tests.unit.push.factories import device_token

TRANSACTIONS = "/api/v1/payments/transactions"
NOTICES = "/api/v1/payments/notices"
RECEIPTS = "/api/v1/payments/receipts"
STATION = f"/api/ops/standin/stations/{DEMO_STATION}"
BO_PAYMENTS = f"/api/bo/v1/ecs/{DEMO_EC}/payments"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **standin_env(),
        "PUSH_QUEUE": f"push-pay-{tag}",
        "PAYMENTS_NOTICES_QUEUE": f"payments-notices-pay-{tag}",
        "BACKOFFICE_POSITIONS_QUEUE": f"bo-positions-pay-{tag}",
    }
    started = start_host(platform, env=env)
    try:
        register(platform, started, CF, "FCMV1", device_token(uuid.uuid4().int % 10**9))
        wait_for(lambda: installed(platform, started, CF))
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def psp(platform: Platform) -> str:
    return platform.env["WALLET_PSP_BASE_URL"]


@pytest.fixture(scope="module")
def card(platform: Platform, host: Host, psp: str) -> Onboarding:
    """One card for the module's citizen (the same card twice would replace the first)."""
    return onboarded(platform, host, psp)


def charges(psp: str, charge_id: str) -> list[dict[str, Any]]:
    found = requests.get(f"{psp}/test/charges", timeout=10).json()["charges"]
    return [c for c in found if c["chargeId"] == charge_id]


def create(platform: Platform, host: Host, number: str) -> dict[str, Any]:
    created = host.request(
        "POST",
        TRANSACTIONS,
        json={"noticeCode": number, "ecFiscalCode": DEMO_EC},
        headers=citizen(platform, host),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def confirm(
    platform: Platform, host: Host, transaction_id: str, wallet_id: str, key: str
) -> requests.Response:
    return host.request(
        "POST",
        f"{TRANSACTIONS}/{transaction_id}/auth-requests",
        json={"walletId": wallet_id, "idempotencyKey": key},
        headers=citizen(platform, host),
    )


def shown(platform: Platform, host: Host, transaction_id: str) -> dict[str, Any]:
    answer = host.request(
        "GET", f"{TRANSACTIONS}/{transaction_id}", headers=citizen(platform, host)
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def listed(platform: Platform, host: Host, number: str, *, history: bool = False) -> Any:
    """The citizen's list item of notice ``number`` (None while it is not there)."""
    answer = host.request(
        "GET", NOTICES + ("/history" if history else ""), headers=citizen(platform, host)
    )
    assert answer.status_code == 200, answer.text
    return next((i for i in answer.json()["items"] if i["noticeCode"] == number), None)


def pushed(platform: Platform, host: Host, number: str, kind: str) -> list[dict[str, Any]]:
    """The pushes of ``kind`` about notice ``number`` that reached the citizen's device."""
    ref = f"{DEMO_EC}{number}"
    return [s for s in sends_to(platform, host, CF) if ref in s["body"] and kind in s["body"]]


def receipt_of(platform: Platform, host: Host, number: str) -> Any:
    answer = host.request("GET", RECEIPTS, headers=citizen(platform, host))
    assert answer.status_code == 200, answer.text
    return next((r for r in answer.json()["receipts"] if r["noticeCode"] == number), None)


def pay_and_check(
    platform: Platform, host: Host, psp: str, ec_control: str, card: Onboarding, *, stand_in: bool
) -> None:
    [number] = new_notices(host, ec_control, 1)
    item = wait_for(lambda: listed(platform, host, number), timeout=30)
    assert (item["amount"], item["status"], item["payableNow"]) == (7_300, "VALID", True)
    wait_for(lambda: pushed(platform, host, number, "newNotice"), timeout=30)
    created = create(platform, host, number)
    assert created["status"] == "ACTIVATED"
    assert (created["amount"], created["fee"], created["total"]) == (7_300, 100, 7_400)
    assert created["ecName"].startswith("Comune di Demo")  # the archive adds its role
    assert created["standIn"] is stand_in
    key = f"tap-{uuid.uuid4().hex[:8]}"
    first = confirm(platform, host, created["transactionId"], card.wallet_id, key)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "NOTIFIED_OK"
    assert first.json()["method"] == "VISA ···· 4242"
    again = confirm(platform, host, created["transactionId"], card.wallet_id, key)  # double tap
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "NOTIFIED_OK"
    [charge] = charges(psp, created["transactionId"])
    assert (charge["status"], charge["amount"], charge["requests"]) == ("AUTHORIZED", 7_400, 1)
    assert position_status(host, number) == "PAID"
    token = created["paymentToken"]
    wait_for(lambda: delivered(ec_control, [token]) == {token: 1}, timeout=30)
    # The citizen's side: the notice leaves the open list for the history, the receipt is
    # theirs to read and download, and the "payment received" push reached their device.
    old = wait_for(lambda: listed(platform, host, number, history=True), timeout=30)
    assert old["status"] == "PAID"
    assert listed(platform, host, number) is None
    receipt = receipt_of(platform, host, number)
    assert (receipt["amount"], receipt["fee"], receipt["standIn"]) == (7_300, 100, stand_in)
    pdf = host.request(
        "GET", f"{RECEIPTS}/{receipt['receiptId']}/pdf", headers=citizen(platform, host)
    )
    assert pdf.status_code == 200, pdf.text
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "73,00 €" in text
    assert " ".join(number[i : i + 4] for i in range(0, 18, 4)) in text
    [received] = wait_for(lambda: pushed(platform, host, number, "paymentReceived"), timeout=30)
    assert receipt["receiptId"] in received["body"]
    assert len(pushed(platform, host, number, "newNotice")) == 1
    # The EC's side: the payment in the back office's payments, and in its CSV export
    row = wait_for(lambda: bo_payment(host, number), timeout=30)
    assert (row["amount"], row["standIn"], row["receiptId"]) == (
        7_300,
        stand_in,
        receipt["receiptId"],
    )
    assert row["psp"]
    # how it was paid, in stand-in too: the payer, the method, the PSP's fee
    assert (row["payerFiscalCode"], row["method"], row["fee"]) == (CF, "CP", 100)
    export = requests.get(
        f"{host.url}{BO_PAYMENTS}/export",
        cookies={COOKIE: session_cookie(DEMO_VIEWER)},
        timeout=30,
    )
    assert export.status_code == 200, export.text
    assert export.headers["Content-Type"].startswith("text/csv")
    assert number in export.text


def bo_payment(host: Host, number: str) -> Any:
    """The back office's row of notice ``number`` among the demo EC's payments (None while it
    is not there: the positions index follows the archive's events)."""
    answer = requests.get(
        host.url + BO_PAYMENTS,
        params={"pageSize": 100},
        cookies={COOKIE: session_cookie(DEMO_VIEWER)},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return next((r for r in answer.json()["items"] if r["noticeCode"] == number), None)


def test_a_notice_is_paid_with_an_onboarded_card(
    platform: Platform, host: Host, psp: str, ec_control: str, card: Onboarding
) -> None:
    pay_and_check(platform, host, psp, ec_control, card, stand_in=False)


def test_a_notice_is_paid_in_stand_in_and_its_receipt_reaches_the_ec(
    platform: Platform, host: Host, psp: str, ec_control: str, card: Onboarding
) -> None:
    forced = host.request(
        "PUT",
        f"{STATION}/force",
        key=ADMIN_KEY,
        headers={"x-operator": "e2e"},
        json={"mode": "STANDIN", "reason": "payments e2e"},
    )
    assert forced.status_code == 200, forced.text
    try:
        pay_and_check(platform, host, psp, ec_control, card, stand_in=True)
    finally:
        released = host.request("DELETE", f"{STATION}/force", key=ADMIN_KEY)
        assert released.status_code == 200, released.text


def test_a_declined_card_frees_the_notice(
    platform: Platform, host: Host, psp: str, ec_control: str, card: Onboarding
) -> None:
    [number] = new_notices(host, ec_control, 1)
    created = create(platform, host, number)
    requests.post(f"{psp}/test/charges/behaviour", json={"next": "DECLINED"}, timeout=10)
    try:
        answer = confirm(platform, host, created["transactionId"], card.wallet_id, "k-1")
    finally:
        requests.post(f"{psp}/test/charges/behaviour", json={}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "UNAUTHORIZED"
    assert position_status(host, number) == "VALID"
    assert create(platform, host, number)["status"] == "ACTIVATED"  # payable again at once


def test_a_host_killed_after_the_charge_completes_once_after_restart(
    platform: Platform, psp: str, ec_control: str
) -> None:
    env = standin_env()
    database = f"db-{uuid.uuid4().hex[:10]}"
    first = start_host(
        platform, database=database, env={**env, "PAYMENTS_CRASH_AFTER_CHARGE": "true"}
    )
    try:
        [number] = new_notices(first, ec_control, 1)
        card = onboarded(platform, first, psp)
        created = create(platform, first, number)
        with pytest.raises(requests.ConnectionError):
            confirm(platform, first, created["transactionId"], card.wallet_id, "k-crash")
        wait_for(lambda: first.child.proc.poll() is not None, timeout=30)
    finally:
        first.stop()
    [charge] = charges(psp, created["transactionId"])
    assert charge["status"] == "AUTHORIZED"
    second = start_host(platform, database=database, env=env)
    try:
        # Nothing reached the node before the crash: the notice is still payable.
        assert shown(platform, second, created["transactionId"])["status"] == (
            "AUTHORIZATION_REQUESTED"
        )
        assert position_status(second, number) == "VALID"
        second.advance_clock(600)
        ran = second.request("POST", "/admin/functions/payments_reconcile", key=ADMIN_KEY)
        assert ran.status_code in (200, 202, 204), ran.text
        wait_for(
            lambda: shown(platform, second, created["transactionId"])["status"] == "NOTIFIED_OK",
            timeout=30,
        )
        assert position_status(second, number) == "PAID"
        token = created["paymentToken"]
        wait_for(lambda: delivered(ec_control, [token]) == {token: 1}, timeout=30)
        [charge] = charges(psp, created["transactionId"])
        assert (charge["status"], charge["requests"]) == ("AUTHORIZED", 1)
        # A second run finds nothing left to do.
        second.advance_clock(600)
        second.request("POST", "/admin/functions/payments_reconcile", key=ADMIN_KEY)
        assert delivered(ec_control, [token]) == {token: 1}
    finally:
        second.stop()
