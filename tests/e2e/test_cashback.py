"""Cashback end to end: the dev host, the PSP simulator, the Cosmos emulator and the broker.
A card onboarded in the wallet reaches cashback through the wallet's events queue; the citizen
enrolls, enables it, and the wallet's deletion disables it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from local.banksim import start_banksim
from local.platform import Platform
from local.psp import DEV_HPAN_SALT as SALT
from local.psp.simulator import hpan
from local.tokens import issue_token
from tests.conftest import ADMIN_KEY, Host, fresh_queues, start_host, wait_for

CF = "RSSMRA85T10A562S"
OTHER_CF = "VRDGPP80A01H501U"
PAN = "5555555555554444"
OTHER_PAN = "4000056655665556"
PERIODS_URL = "/api/v1/cashback/periods"
TRANSACTIONS = "/api/v1/cashback/transactions"
CITIZEN = "/api/v1/cashback/citizen"
INSTRUMENTS = "/api/v1/cashback/instruments"
WALLET = "/api/v1/wallets"
ROME = ZoneInfo("Europe/Rome")
UTC = ZoneInfo("UTC")
# A period as a local run defines one (CASHBACK_PERIODS): wide, so any dev clock is inside.
PERIODS = (
    '[{"id": 9, "from": "2026-01-01", "to": "2099-12-31", "minTransactions": 3, '
    '"maxPerTransaction": 1500, "maxPerPeriod": 15000, "graceDays": 2}]'
)


@pytest.fixture(scope="module")
def bank() -> Iterator[str]:
    child = start_banksim()
    try:
        yield f"http://127.0.0.1:{child.port}"
    finally:
        child.stop()


@pytest.fixture(scope="module")
def host(platform: Platform, bank: str) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **fresh_queues("cashback"),
        "WALLET_EVENTS_QUEUE": f"wallet-events-{tag}",
        "CASHBACK_TRANSACTIONS_QUEUE": f"cashback-transactions-{tag}",
        "IBAN_CHECK_QUEUE": f"iban-check-{tag}",
        "CASHBACK_BANK_CHECK_URL": bank,
        "CASHBACK_PERIODS": PERIODS,
    }
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


def dev_now(host: Host) -> datetime:
    return datetime.fromisoformat(
        host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()["now"]
    )


def citizen(platform: Platform, host: Host, cf: str = CF) -> dict[str, str]:
    token = issue_token(
        platform.keys.private_pem,
        cf,
        issuer=host.env["CITIZEN_JWT_ISSUER"],
        audience=host.env["CITIZEN_JWT_AUDIENCE"],
        now=dev_now(host),
    )
    return {"Authorization": f"Bearer {token}"}


def onboard(platform: Platform, host: Host, cf: str, pan: str = PAN) -> str:
    """A card validated in ``cf``'s wallet through the gateway simulator's test API."""
    headers = citizen(platform, host, cf)
    created = host.request(
        "POST",
        WALLET,
        json={"paymentMethodId": "3ebea7a1-2e77-4a1b-ac1b-3aca0d67f813"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    wallet_id: str = created.json()["walletId"]
    opened = host.request("POST", f"{WALLET}/{wallet_id}/sessions", json={}, headers=headers)
    assert opened.status_code == 200, opened.text
    order_id = opened.json()["orderId"]
    session = opened.json()["sessionData"]["redirectUrl"].rsplit("/", 1)[-1]
    psp = platform.env["WALLET_PSP_BASE_URL"]
    card = {"pan": pan, "expiryMonth": 12, "expiryYear": dev_now(host).year + 3}
    typed = requests.post(f"{psp}/test/sessions/{session}/card", json=card, timeout=30)
    assert typed.status_code == 200, typed.text
    asked = host.request(
        "POST", f"{WALLET}/{wallet_id}/sessions/{order_id}/validations", headers=headers
    )
    assert asked.status_code == 200, asked.text
    done = requests.post(
        f"{psp}/test/sessions/{session}/3ds", json={"threeDsCode": "123456"}, timeout=30
    )
    assert done.status_code == 200, done.text
    assert done.json()["walletStatus"] == 200, done.text
    return wallet_id


def cashback_instrument(
    platform: Platform, host: Host, cf: str, wallet_id: str
) -> dict[str, Any] | None:
    listed = host.request("GET", INSTRUMENTS, headers=citizen(platform, host, cf))
    assert listed.status_code == 200, listed.text
    return next((i for i in listed.json()["instruments"] if i["walletId"] == wallet_id), None)


def test_enroll_enable_and_the_wallets_deletion(platform: Platform, host: Host) -> None:
    me = citizen(platform, host)
    assert host.request("GET", CITIZEN, headers=me).status_code == 404
    enrolled = host.request("PUT", CITIZEN, json={"termsAndConditionsAccepted": True}, headers=me)
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["status"] == "ENROLLED"

    wallet_id = onboard(platform, host, CF)
    # The wallet's InstrumentValidated reaches cashback through its queue.
    wait_for(lambda: cashback_instrument(platform, host, CF, wallet_id))
    enabled = host.request("PUT", f"{INSTRUMENTS}/{wallet_id}", headers=citizen(platform, host))
    assert enabled.status_code == 200, enabled.text
    body = enabled.json()
    now = dev_now(host)
    assert body["status"] == "ENABLED"
    assert date.fromisoformat(body["countsFrom"]) == (
        now.astimezone(ROME).date() + timedelta(days=1)
    )

    # The same card in someone else's wallet cannot be enabled while it is mine.
    host.request(
        "PUT",
        CITIZEN,
        json={"termsAndConditionsAccepted": True},
        headers=citizen(platform, host, OTHER_CF),
    )
    theirs = onboard(platform, host, OTHER_CF)
    wait_for(lambda: cashback_instrument(platform, host, OTHER_CF, theirs))
    refused = host.request(
        "PUT", f"{INSTRUMENTS}/{theirs}", headers=citizen(platform, host, OTHER_CF)
    )
    assert refused.status_code == 409, refused.text
    assert CF not in refused.text

    # Deleting it in the wallet disables it for cashback; the other citizen may then enable it.
    deleted = host.request("DELETE", f"{WALLET}/{wallet_id}", headers=citizen(platform, host))
    assert deleted.status_code == 204, deleted.text
    gone = wait_for(
        lambda: (
            (i := cashback_instrument(platform, host, CF, wallet_id))
            and i["status"] == "DISABLED"
            and i
        )
    )
    assert gone["walletStatus"] == "DELETED"
    assert gone["history"][0]["disabledAt"] is not None
    taken = host.request(
        "PUT", f"{INSTRUMENTS}/{theirs}", headers=citizen(platform, host, OTHER_CF)
    )
    assert taken.status_code == 200, taken.text

    withdrawn = host.request("DELETE", CITIZEN, headers=citizen(platform, host, OTHER_CF))
    assert withdrawn.status_code == 204
    assert cashback_instrument(platform, host, OTHER_CF, theirs)["status"] == "DISABLED"


def next_spring_dst_day(after: date) -> date:
    """The next last Sunday of March (Rome: 02:00 CET becomes 03:00 CEST at 01:00 UTC)."""
    year = after.year
    while True:
        end_of_march = date(year, 3, 31)
        sunday = end_of_march - timedelta(days=(end_of_march.weekday() - 6) % 7)
        if sunday > after:
            return sunday
        year += 1


def acquirer(host: Host) -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_ACQUIRER"]}


def trx(
    n: str, at: datetime, amount: int, op: str = "00", corr: str | None = None
) -> dict[str, Any]:
    line = {
        "acquirerId": "DEMOACQ",
        "acquirerCode": "12345",
        "idTrxAcquirer": n,
        "hpan": hpan(OTHER_PAN, SALT),
        "operationType": op,
        "trxDate": at.isoformat(),
        "amount": amount,
        "merchantId": "shop-1",
        "terminalId": "pos-1",
        "circuitType": "01",
    }
    if corr:
        line["correlationId"] = corr
    return line


def test_transactions_around_a_dst_midnight_reversals_and_duplicates(
    platform: Platform, host: Host
) -> None:
    cf = "BNCLRD75C41H501N"
    dst = next_spring_dst_day(dev_now(host).astimezone(ROME).date() + timedelta(days=1))
    # Enabled on the DST day at 03:30 CEST: counting starts at 00:00 CEST the next day.
    enable_at = datetime(dst.year, dst.month, dst.day, 1, 30, tzinfo=UTC)
    host.request("POST", "/admin/devclock", key=ADMIN_KEY, json={"set": enable_at.isoformat()})
    assert (
        host.request(
            "PUT",
            CITIZEN,
            json={"termsAndConditionsAccepted": True},
            headers=citizen(platform, host, cf),
        ).status_code
        == 200
    )
    wallet_id = onboard(platform, host, cf, pan=OTHER_PAN)
    wait_for(lambda: cashback_instrument(platform, host, cf, wallet_id))
    enabled = host.request("PUT", f"{INSTRUMENTS}/{wallet_id}", headers=citizen(platform, host, cf))
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["countsFrom"] == (dst + timedelta(days=1)).isoformat()

    midnight = datetime(dst.year, dst.month, dst.day, 22, 0, tzinfo=UTC)  # 00:00 CEST
    host.advance_clock(3 * 86400)
    first = host.request(
        "POST",
        TRANSACTIONS,
        headers=acquirer(host),
        json={
            "transactions": [
                trx("t1", midnight - timedelta(seconds=1), 2500),  # 23:59:59 on the DST day: no
                trx("t2", midnight, 2500),  # 2.50
                trx("t3", midnight + timedelta(hours=1), 20000, corr="c3"),  # 15.00
                trx(
                    "t4", midnight + timedelta(hours=2), 6000, op="01", corr="c3"
                ),  # 200 -> 140: -1
                trx(
                    "t6", midnight + timedelta(hours=3), 3000, op="01", corr="c7"
                ),  # before its payment
                {"acquirerId": "DEMOACQ", "idTrxAcquirer": "bad"},
            ]
        },
    )
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 5
    assert [r["index"] for r in first.json()["rejected"]] == [5]

    def period(count: int, cashback: int) -> dict[str, Any] | None:
        shown = host.request("GET", f"{PERIODS_URL}/9", headers=citizen(platform, host, cf))
        assert shown.status_code == 200, shown.text
        body: dict[str, Any] = shown.json()
        return body if (body["count"], body["cashback"]) == (count, cashback) else None

    # The next batch comes once this one is scored (milestones follow the order of arrival).
    after_first = wait_for(lambda: period(2, 1650))  # t2 2.50 + t3 15.00 - 1.00; t6 waits
    assert after_first["minReached"] is False
    second = host.request(
        "POST",
        TRANSACTIONS,
        headers=acquirer(host),
        json={
            "transactions": [
                trx("t2", midnight, 2500),  # again: counted once
                trx("t8", midnight + timedelta(hours=5), 1000),  # 1.00, the third: minimum reached
                trx("t7", midnight + timedelta(hours=2, minutes=30), 3000, corr="c7"),
            ]
        },
    )  # cancelled
    assert second.status_code == 202, second.text

    shown = wait_for(lambda: period(3, 1750))
    assert shown["minReached"] is True
    assert shown["capReached"] is False
    assert shown["milestones"]["minReachedBy"].startswith("DEMOACQ:t8:12345:00:")
    assert shown["milestones"]["capCrossedBy"] is None
    assert shown["status"] == "ACTIVE"
    listed = host.request(
        "GET", f"{PERIODS_URL}/9/transactions", headers=citizen(platform, host, cf)
    )
    assert listed.status_code == 200, listed.text
    rows = {
        t["idTrxAcquirer"]: (t["status"], t["count"], t["cashback"])
        for t in listed.json()["transactions"]
    }
    assert rows == {
        "t2": ("COUNTED", 1, 250),
        "t3": ("COUNTED", 1, 1500),
        "t4": ("COUNTED", 0, -100),
        "t6": ("COUNTED", -1, -300),
        "t7": ("COUNTED", 1, 300),
        "t8": ("COUNTED", 1, 100),
    }


def test_each_bad_line_of_a_batch_is_rejected_alone_and_the_good_ones_go_on(host: Host) -> None:
    at = dev_now(host) - timedelta(hours=1)
    bad = {
        1: {"trxDate": "0001-01-01T00:00:00+01:00"},  # cannot even be converted to UTC
        3: {"amount": True},
        4: {"trxDate": int(at.timestamp())},  # a number is not a date-time
        5: {"amount": 2500.0},
        6: {"trxDate": "2100-01-01T00:00:00+01:00"},
    }
    lines: list[Any] = [{**trx(f"bad-lines-{i}", at, 2500), **bad.get(i, {})} for i in range(7)] + [
        "not a line"
    ]
    response = host.request(
        "POST", TRANSACTIONS, headers=acquirer(host), json={"transactions": lines}
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 2  # lines 0 and 2
    rejected = {r["index"]: r for r in answer["rejected"]}
    assert sorted(rejected) == [1, 3, 4, 5, 6, 7]
    assert {r["reason"] for r in rejected.values()} == {"INVALID"}
    for index, change in bad.items():
        assert [e["loc"] for e in rejected[index]["errors"]] == [list(change)], rejected[index]


def test_an_iban_is_checked_with_the_bank_asynchronously(
    platform: Platform, host: Host, bank: str
) -> None:
    iban = "IT60X0542811101000000123456"
    mine, theirs = "MRORSS80A01H501D", OTHER_CF
    requests.post(
        f"{bank}/test/accounts", json={"iban": iban, "fiscalCode": mine}, timeout=10
    ).raise_for_status()
    for cf in (mine, theirs):
        headers = citizen(platform, host, cf)
        assert (
            host.request(
                "PUT", CITIZEN, json={"termsAndConditionsAccepted": True}, headers=headers
            ).status_code
            == 200
        )
        answer = host.request(
            "PUT",
            f"{CITIZEN}/iban",
            headers=headers,
            json={"iban": "IT60 X054 2811 1010 0000 0123 456", "ownerName": "Mario Rossi"},
        )
        assert answer.status_code == 200, answer.text
        assert (answer.json()["iban"], answer.json()["ibanStatus"]) == (
            "*" * 23 + "3456",
            "PENDING",
        )

    def status(cf: str) -> str | None:
        shown = host.request("GET", CITIZEN, headers=citizen(platform, host, cf)).json()
        value: str | None = shown["ibanStatus"]
        if value is None and shown["ibanRefused"]:
            return "REFUSED"  # the bank said KO: the IBAN is not kept (none before it)
        return None if value == "PENDING" else value

    assert wait_for(lambda: status(mine)) == "OK"
    assert wait_for(lambda: status(theirs)) == "REFUSED"
    refused = host.request("GET", CITIZEN, headers=citizen(platform, host, theirs)).json()
    assert (refused["iban"], refused["ibanRefused"]) == (None, "*" * 23 + "3456")
    bad = host.request(
        "PUT",
        f"{CITIZEN}/iban",
        headers=citizen(platform, host, mine),
        json={"iban": "IT61X0542811101000000123456", "ownerName": "M R"},
    )
    assert bad.status_code == 422


# A period of its own, in the dev clock's future, that the scenario below sees open, rank and
# close: 1-31 March 2031, two grace days, the minimum at 3, a super cashback for the top 1.
CLOSING_PERIODS = (
    '[{"id": 31, "from": "2031-03-01", "to": "2031-03-31", '
    '"minTransactions": 3, "maxPerTransaction": 1500, "maxPerPeriod": 15000, '
    '"superCashback": 1000, "topN": 1, "graceDays": 2}]'
)
SCENARIO_CF = "MRNLCU80A01H501B"
SCENARIO_IBAN = "IT58P0306909606100000063912"
VISA, MASTERCARD = "4242424242424242", "5200828282828210"


@pytest.fixture(scope="module")
def closing_host(platform: Platform, bank: str) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **fresh_queues("cashback-closing"),
        "WALLET_EVENTS_QUEUE": f"wallet-events-{tag}",
        "CASHBACK_TRANSACTIONS_QUEUE": f"cashback-transactions-{tag}",
        "IBAN_CHECK_QUEUE": f"iban-check-{tag}",
        "CASHBACK_BANK_CHECK_URL": bank,
        "CASHBACK_PERIODS": CLOSING_PERIODS,
        "CASHBACK_PAYOUTS_BLOB_CONTAINER": f"payouts-{tag}",
    }
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


def card_line(n: str, pan: str, at: datetime, amount: int) -> dict[str, Any]:
    return {
        "acquirerId": "DEMOACQ",
        "acquirerCode": "12345",
        "idTrxAcquirer": n,
        "hpan": hpan(pan, SALT),
        "operationType": "00",
        "trxDate": at.isoformat(),
        "amount": amount,
        "merchantId": "shop-2",
        "terminalId": "pos-9",
        "circuitType": "01",
    }


def test_iban_two_cards_ranking_and_payout_through_the_dev_host(
    platform: Platform, closing_host: Host, bank: str
) -> None:
    host = closing_host
    host.request(
        "POST", "/admin/devclock", key=ADMIN_KEY, json={"set": "2031-03-10T09:00:00+00:00"}
    )
    me = citizen(platform, host, SCENARIO_CF)
    assert (
        host.request(
            "PUT", CITIZEN, json={"termsAndConditionsAccepted": True}, headers=me
        ).status_code
        == 200
    )

    # The IBAN: PENDING, then OK once the bank simulator answers through IBAN_CHECK_QUEUE.
    requests.post(
        f"{bank}/test/accounts", json={"iban": SCENARIO_IBAN, "fiscalCode": SCENARIO_CF}, timeout=10
    ).raise_for_status()
    pending = host.request(
        "PUT",
        f"{CITIZEN}/iban",
        headers=me,
        json={"iban": SCENARIO_IBAN, "ownerName": "Luca Marino"},
    )
    assert pending.status_code == 200, pending.text
    assert pending.json()["ibanStatus"] == "PENDING"

    def checked() -> str | None:
        shown = host.request("GET", CITIZEN, headers=citizen(platform, host, SCENARIO_CF))
        status: str = shown.json()["ibanStatus"]
        return None if status == "PENDING" else status

    assert wait_for(checked) == "OK"

    # Two cards onboarded in the wallet (PSP simulator), both enabled for cashback on 10 March.
    wallet_ids = [onboard(platform, host, SCENARIO_CF, pan=pan) for pan in (VISA, MASTERCARD)]
    for wallet_id in wallet_ids:
        wait_for(lambda w=wallet_id: cashback_instrument(platform, host, SCENARIO_CF, w))
        enabled = host.request(
            "PUT", f"{INSTRUMENTS}/{wallet_id}", headers=citizen(platform, host, SCENARIO_CF)
        )
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["countsFrom"] == "2031-03-11"

    host.advance_clock(2 * 86400)  # 12 March
    eleventh = datetime(2031, 3, 11, 10, tzinfo=ROME)
    sent = host.request(
        "POST",
        TRANSACTIONS,
        headers=acquirer(host),
        json={
            "transactions": [
                card_line("v1", VISA, eleventh, 5000),  # 5.00
                card_line("m1", MASTERCARD, eleventh + timedelta(hours=1), 20000),  # 15.00 (capped)
                card_line("v2", VISA, eleventh + timedelta(hours=2), 3000),  # 3.00: the third
                card_line(
                    "m0", MASTERCARD, eleventh - timedelta(hours=12), 9000
                ),  # enabling day: no
            ]
        },
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["accepted"] == 4

    def summary() -> dict[str, Any] | None:
        shown = host.request(
            "GET", f"{PERIODS_URL}/31", headers=citizen(platform, host, SCENARIO_CF)
        )
        assert shown.status_code == 200, shown.text
        body: dict[str, Any] = shown.json()
        return body if body["count"] == 3 else None

    period = wait_for(summary)
    assert (period["count"], period["cashback"], period["minReached"]) == (3, 2300, True)
    assert period["milestones"]["minReachedBy"].startswith("DEMOACQ:v2:12345:00:")
    assert period["status"] == "ACTIVE"
    listed = host.request(
        "GET", f"{PERIODS_URL}/31/transactions", headers=citizen(platform, host, SCENARIO_CF)
    ).json()
    assert sorted(t["idTrxAcquirer"] for t in listed["transactions"]) == ["m1", "v1", "v2"]

    # The ranking timer, run now through the dev host.
    ranked = host.request("POST", "/admin/functions/cashback_rank", key=ADMIN_KEY, json={})
    assert ranked.status_code == 202, ranked.text
    period = host.request(
        "GET", f"{PERIODS_URL}/31", headers=citizen(platform, host, SCENARIO_CF)
    ).json()
    assert (period["rank"], period["inTopN"]) == (1, True)

    # 3 April (Rome): the last day of grace (2 April) is over; the payout job writes the list.
    host.request(
        "POST", "/admin/devclock", key=ADMIN_KEY, json={"set": "2031-04-03T08:00:00+00:00"}
    )
    paid = host.request("POST", "/admin/functions/cashback_payouts", key=ADMIN_KEY, json={})
    assert paid.status_code == 202, paid.text
    service = BlobServiceClient.from_connection_string(platform.env["AzureWebJobsStorage"])
    with service:
        blob = service.get_blob_client(
            host.env["CASHBACK_PAYOUTS_BLOB_CONTAINER"], "period-31/payouts.csv"
        )
        lines = blob.download_blob().readall().decode().splitlines()
    assert lines == [
        "fiscalCode,iban,amountCents,typology",
        f"{SCENARIO_CF},{SCENARIO_IBAN},3300,03",
    ]  # 23.00 + the super 10.00
