"""Cashback's triggers called directly (func.HttpRequest, func.ServiceBusMessage) on a root of
in-memory fakes, beside a real wallet on its fakes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from functions.root import use_root
from local.tokens import issue_token
from shared.auth.user_ids import UserIds
from shared.cashback.payouts import PayoutJob
from shared.cashback.ranking import RankingJob
from shared.cashback.rules import parse_periods
from shared.cashback.scorer import Scorer
from shared.cashback.service import Cashback
from shared.parties.models import PartyIn
from shared.platform.clock import SystemClock, use_clock
from shared.platform.config import Settings, load_settings
from shared.wallet.service import Wallet
from tests.app import app
from tests.conftest import base_settings
from tests.fakes.cashback import MemoryPayoutFiles
from tests.functions.fakes import (
    NOW,
    PRIVATE_PEM,
    PUBLIC_PEM,
    FakeRoot,
    functions,
    request,
    trigger,
)
from tests.unit.cashback.fakes import HPAN_A, Scene
from tests.unit.wallet.fakes import CF, OTHER_CF

CITIZEN = "v1/cashback/citizen"
PERIODS = "v1/cashback/periods"
TRANSACTIONS = "v1/cashback/transactions"
ACQUIRER_KEY = "acquirer-key"
PSP_KEY = "psp-key"
# A current period, as a local run defines one (CASHBACK_PERIODS).
CURRENT = (
    '[{"id": 9, "from": "2026-12-01", "to": "2026-12-31", "minTransactions": 2, '
    '"maxPerTransaction": 1500, "maxPerPeriod": 15000, "graceDays": 2}]'
)
INSTRUMENTS = "v1/cashback/instruments"


class CashbackRoot(FakeRoot):
    def __init__(self) -> None:
        super().__init__()
        self._settings = load_settings(
            {**base_settings(), "CITIZEN_JWT_PUBLIC_KEY": PUBLIC_PEM, "CASHBACK_PERIODS": CURRENT}
        )
        self.scene = Scene(now=NOW, periods=parse_periods(self._settings.cashback_periods))
        self.clock = self.scene.world.clock
        self._scorer = Scorer(self.scene.store, self.scene.cashback.calendar)
        self.payout_files = MemoryPayoutFiles()

    @property
    def settings(self) -> Settings:
        return self._settings

    def cashback(self) -> Cashback:
        return self.scene.cashback

    def wallet(self) -> Wallet:
        return self.scene.world.wallet

    def user_ids(self) -> UserIds:
        return self.scene.world.user_ids

    def cashback_scorer(self) -> Scorer:
        return self._scorer

    def cashback_ranking(self) -> RankingJob:
        return RankingJob(self.scene.store, self.scene.cashback.calendar)

    def cashback_payouts(self) -> PayoutJob:
        return PayoutJob(self.scene.store, self.payout_files, self.scene.cashback.calendar)

    def citizen(self, cf: str = CF) -> dict[str, str]:
        """A token issued now, by the root's clock (the tests move it)."""
        s = self.settings
        token = issue_token(
            PRIVATE_PEM, cf, issuer=s.jwt_issuer, audience=s.jwt_audience, now=self.clock.now()
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def root() -> AsyncIterator[CashbackRoot]:
    fake = CashbackRoot()
    for party_id, role, key in [("DEMOACQ", "acquirer", ACQUIRER_KEY), ("DEMOPSP", "psp", PSP_KEY)]:
        await fake.parties().register(
            PartyIn.model_validate({"partyId": party_id, "name": party_id, "role": role}), now=NOW
        )
        await fake.parties().add_key(party_id, key, now=NOW)
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


def problem(response: func.HttpResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = parsed(response)
    return body


async def enroll(root: CashbackRoot, cf: str = CF) -> func.HttpResponse:
    return await call(
        "cashback_enroll",
        "PUT",
        CITIZEN,
        body={"termsAndConditionsAccepted": True},
        headers=root.citizen(cf),
    )


def message(body: bytes, message_id: str) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=body,
        message_id=message_id,
        delivery_count=1,
        application_properties={},
        user_properties={},
    )


async def deliver_wallet_events(root: CashbackRoot) -> None:
    """The wallet's events through the queue trigger, as the host would deliver them."""
    for i, body in enumerate(root.scene.pending_events()):
        await trigger(app, "cashback_wallet_events")(message(body, f"m{i}"))
    await root.scene.deliver()  # marks them handed (applying again changes nothing)


# ------------------------------------------------------------------------ citizen


async def test_enrolling_answers_the_enrollment(root: CashbackRoot) -> None:
    response = await enroll(root)
    assert response.status_code == 200, response.get_body()
    body = parsed(response)
    assert body["status"] == "ENROLLED"
    assert datetime.fromisoformat(body["termsAcceptedAt"]) == NOW
    shown = await call("cashback_citizen", "GET", CITIZEN, headers=root.citizen())
    assert parsed(shown) == body


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"{}",
        b'{"termsAndConditionsAccepted": false}',
        b'{"termsAndConditionsAccepted": true, "x": 1}',
        b"[]",
    ],
)
async def test_enrolling_needs_the_terms_accepted(root: CashbackRoot, raw: bytes) -> None:
    response = await call("cashback_enroll", "PUT", CITIZEN, raw=raw, headers=root.citizen())
    assert response.status_code in (400, 422), response.get_body()
    problem(response, response.status_code)
    problem(await call("cashback_citizen", "GET", CITIZEN, headers=root.citizen()), 404)


async def test_every_citizen_operation_needs_a_token(root: CashbackRoot) -> None:
    for name, method, path in [
        ("cashback_enroll", "PUT", CITIZEN),
        ("cashback_citizen", "GET", CITIZEN),
        ("cashback_withdraw", "DELETE", CITIZEN),
        ("cashback_instruments", "GET", INSTRUMENTS),
    ]:
        problem(await call(name, method, path, body={"termsAndConditionsAccepted": True}), 401)


async def test_an_operators_integration_is_a_payout_record_the_citizen_sees(
    root: CashbackRoot,
) -> None:
    complaint = {
        "fiscalCode": CF,
        "period": 9,
        "amountCents": 250,
        "reason": "a payment not counted",
        "complaintId": "C1",
    }
    path = "ops/cashback/awards/integrations"
    problem(await call("cashback_ops_integration", "POST", path, body={**complaint, "x": 1}), 422)
    added = parsed(await call("cashback_ops_integration", "POST", path, body=complaint))
    assert (added["kind"], added["amount"], added["status"]) == ("INTEGRATION", 250, "NEW")
    mine = parsed(
        await call("cashback_awards", "GET", "v1/cashback/awards", headers=root.citizen())
    )
    assert [(a["period"], a["amount"], a["status"]) for a in mine["awards"]] == [(9, 250, "NEW")]
    header = "fiscalCode,period,award,amountCents,result,resultReason,cro,executionDate"
    outcomes = {
        "name": "o.csv",
        "csv": f"{header}\n{CF},9,integration:C1,250,OK,,CRO1,2027-01-05\n",
    }
    applied = parsed(
        await call(
            "cashback_ops_payout_outcomes", "POST", "ops/cashback/payout-outcomes", body=outcomes
        )
    )
    # Not sent yet (NEW): the outcome is refused with why.
    assert applied["applied"] == 0
    assert "NEW" in applied["rejected"][0]


async def test_a_citizen_turns_a_kind_of_notification_off(root: CashbackRoot) -> None:
    alerts = CITIZEN + "/alerts"
    body = {"payoutDone": False}
    problem(await call("cashback_alerts", "PUT", alerts, body=body), 401)
    problem(await call("cashback_alerts", "PUT", alerts, body=body, headers=root.citizen()), 404)
    await enroll(root)
    problem(
        await call("cashback_alerts", "PUT", alerts, body={"x": 1}, headers=root.citizen()), 422
    )
    chosen = {"periodClosing": True, "addIban": True, "payoutDone": False}
    answer = await call("cashback_alerts", "PUT", alerts, body=body, headers=root.citizen())
    assert parsed(answer) == chosen
    shown = parsed(await call("cashback_citizen", "GET", CITIZEN, headers=root.citizen()))
    assert shown["alerts"] == chosen


async def test_withdrawing_answers_204_and_an_unknown_citizen_404(root: CashbackRoot) -> None:
    problem(await call("cashback_withdraw", "DELETE", CITIZEN, headers=root.citizen()), 404)
    preview = CITIZEN + "/withdrawal"
    problem(await call("cashback_withdrawal_preview", "GET", preview), 401)
    problem(await call("cashback_withdrawal_preview", "GET", preview, headers=root.citizen()), 404)
    await enroll(root)
    before = parsed(
        await call("cashback_withdrawal_preview", "GET", preview, headers=root.citizen())
    )
    assert (before["instrumentsDisabled"], before["iban"]) == (0, None)
    assert all((p["count"], p["cashback"]) == (0, 0) for p in before["periods"])
    response = await call("cashback_withdraw", "DELETE", CITIZEN, headers=root.citizen())
    assert response.status_code == 204
    shown = parsed(await call("cashback_citizen", "GET", CITIZEN, headers=root.citizen()))
    assert shown["status"] == "WITHDRAWN"


# ------------------------------------------------------------------------ instruments


async def test_enabling_an_onboarded_card_through_the_wallet_events_trigger(
    root: CashbackRoot,
) -> None:
    await enroll(root)
    wallet_id = await root.scene.onboard(CF, HPAN_A, deliver=False)
    await deliver_wallet_events(root)
    known = parsed(await call("cashback_instruments", "GET", INSTRUMENTS, headers=root.citizen()))
    assert [(i["walletId"], i["walletStatus"]) for i in known["instruments"]] == [
        (wallet_id, "VALIDATED")
    ]
    response = await call(
        "cashback_enable_instrument",
        "PUT",
        f"{INSTRUMENTS}/{wallet_id}",
        headers=root.citizen(),
        walletId=wallet_id,
    )
    assert response.status_code == 200, response.get_body()
    body = parsed(response)
    assert (body["walletId"], body["status"], body["countsFrom"]) == (
        wallet_id,
        "ENABLED",
        "2026-12-09",
    )
    listed = parsed(await call("cashback_instruments", "GET", INSTRUMENTS, headers=root.citizen()))
    assert [i["walletId"] for i in listed["instruments"]] == [wallet_id]
    assert "hpan" not in json.dumps(listed)


async def test_someone_elses_or_an_unknown_instrument_is_404(root: CashbackRoot) -> None:
    await enroll(root, OTHER_CF)
    wallet_id = await root.scene.onboard(CF, HPAN_A)
    for name, method in [
        ("cashback_enable_instrument", "PUT"),
        ("cashback_disable_instrument", "DELETE"),
    ]:
        for target in (wallet_id, "nope"):
            problem(
                await call(
                    name,
                    method,
                    f"{INSTRUMENTS}/{target}",
                    headers=root.citizen(OTHER_CF),
                    walletId=target,
                ),
                404,
            )


async def test_an_instrument_enabled_by_another_citizen_is_409(root: CashbackRoot) -> None:
    await enroll(root, CF)
    await enroll(root, OTHER_CF)
    mine = await root.scene.onboard(CF, HPAN_A)
    theirs = await root.scene.onboard(OTHER_CF, HPAN_A)
    ok = await call(
        "cashback_enable_instrument",
        "PUT",
        f"{INSTRUMENTS}/{mine}",
        headers=root.citizen(CF),
        walletId=mine,
    )
    assert ok.status_code == 200
    refused = problem(
        await call(
            "cashback_enable_instrument",
            "PUT",
            f"{INSTRUMENTS}/{theirs}",
            headers=root.citizen(OTHER_CF),
            walletId=theirs,
        ),
        409,
    )
    assert CF not in json.dumps(refused)
    gone = await call(
        "cashback_disable_instrument",
        "DELETE",
        f"{INSTRUMENTS}/{mine}",
        headers=root.citizen(CF),
        walletId=mine,
    )
    assert gone.status_code == 204


async def test_a_malformed_wallet_event_becomes_failed_work(root: CashbackRoot) -> None:
    await trigger(app, "cashback_wallet_events")(message(b'{"type": "InstrumentValidated"}', "bad"))
    [item] = root.failed_work.items.values()
    assert item.ending == "permanent"


def test_the_wallet_events_consumer_is_bound_by_setting() -> None:
    fn = functions(app)["cashback_wallet_events"]
    binding = fn.get_trigger().get_dict_repr()
    assert (binding["queueName"], binding["connection"]) == (
        "%WALLET_EVENTS_QUEUE%",
        "ServiceBusConnection",
    )


# ------------------------------------------------------------------------ transactions


def transaction(n: int, **change: Any) -> dict[str, Any]:
    return {
        "acquirerId": "DEMOACQ",
        "acquirerCode": "12345",
        "idTrxAcquirer": f"t{n}",
        "hpan": HPAN_A,
        "operationType": "00",
        "trxDate": "2026-12-10T12:00:00+01:00",
        "amount": 2500,
        "merchantId": "m1",
        "terminalId": "t1",
        "circuitType": "01",
        **change,
    }


async def submit(body: Any, key: str | None = ACQUIRER_KEY) -> func.HttpResponse:
    headers = {"Ocp-Apim-Subscription-Key": key} if key else {}
    return await call("cashback_transactions", "POST", TRANSACTIONS, body=body, headers=headers)


async def test_transactions_need_an_acquirers_key(root: CashbackRoot) -> None:
    batch = {"transactions": [transaction(1)]}
    problem(await submit(batch, key=None), 401)
    problem(await submit(batch, key="unknown"), 401)
    problem(await submit(batch, key=PSP_KEY), 403)
    assert root.sender.sent == []


async def test_an_acquirers_token_list_is_stored_and_needs_its_key(root: CashbackRoot) -> None:
    body = {"tokens": [{"tokenHpan": "7" * 64, "hpan": HPAN_A}]}

    async def tokens(key: str | None, sent: Any = body) -> func.HttpResponse:
        headers = {"Ocp-Apim-Subscription-Key": key} if key else {}
        return await call(
            "cashback_tokens", "POST", "v1/cashback/tokens", body=sent, headers=headers
        )

    problem(await tokens(None), 401)
    problem(await tokens(PSP_KEY), 403)
    problem(await tokens(ACQUIRER_KEY, {"tokens": [{"tokenHpan": "x", "hpan": HPAN_A}]}), 422)
    assert parsed(await tokens(ACQUIRER_KEY)) == {"stored": 1, "unchanged": 0}
    assert parsed(await tokens(ACQUIRER_KEY)) == {"stored": 0, "unchanged": 1}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"transactions": []},
        {"transactions": {}},
        {"transactions": [transaction(1)], "x": 1},
        {"transactions": [transaction(i) for i in range(10_001)]},
    ],
)
async def test_a_batch_that_is_not_a_batch_is_422(root: CashbackRoot, body: Any) -> None:
    problem(await submit(body), 422)
    assert root.sender.sent == []


async def test_a_batch_is_202_with_its_rejections_and_is_scored_from_the_queue(
    root: CashbackRoot,
) -> None:
    await enroll(root)
    wallet_id = await root.scene.onboard(CF, HPAN_A)
    root.clock.set(datetime.fromisoformat("2026-12-09T20:00:00+01:00"))
    enabled = await call(
        "cashback_enable_instrument",
        "PUT",
        f"{INSTRUMENTS}/{wallet_id}",
        headers=root.citizen(),
        walletId=wallet_id,
    )
    assert enabled.status_code == 200, enabled.get_body()
    root.clock.set(datetime.fromisoformat("2026-12-12T10:00:00+01:00"))
    response = await submit(
        {
            "transactions": [
                transaction(1, trxDate="2026-12-09T23:59:59+01:00"),  # before counting starts
                transaction(2, trxDate="2026-12-10T00:00:00+01:00"),
                transaction(3, amount=-5),
                transaction(4, acquirerId="OTHER"),
                transaction(5, trxDate="2026-12-11T09:00:00+01:00"),
                transaction(2, trxDate="2026-12-10T00:00:00+01:00"),  # the same line again
            ]
        }
    )
    assert response.status_code == 202, response.get_body()
    body = parsed(response)
    assert body["accepted"] == 3
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (2, "INVALID"),
        (3, "NOT_YOUR_ACQUIRER_ID"),
        (5, "DUPLICATE_IN_BATCH"),
    ]
    [(queue, outgoing)] = root.sender.sent
    assert queue == root.settings.cashback_transactions_queue
    for _ in range(2):  # delivered twice: counted once
        await trigger(app, "cashback_score")(message(outgoing.body, outgoing.message_id))
    shown = parsed(
        await call("cashback_period", "GET", f"{PERIODS}/9", headers=root.citizen(), periodId="9")
    )
    assert (shown["count"], shown["cashback"], shown["minReached"]) == (2, 500, True)
    assert shown["milestones"]["minReachedBy"].startswith("DEMOACQ:t5:12345:00:")
    assert (shown["rank"], shown["rankedAt"]) == (None, None)
    await trigger(app, "cashback_rank")(TimerRequest(past_due=False))
    ranked = parsed(
        await call("cashback_period", "GET", f"{PERIODS}/9", headers=root.citizen(), periodId="9")
    )
    assert (ranked["rank"], ranked["inTopN"]) == (1, False)  # this period has no top N
    listed = parsed(await call("cashback_periods", "GET", PERIODS, headers=root.citizen()))
    assert [p["id"] for p in listed["periods"]] == [9]
    problem(
        await call("cashback_period", "GET", f"{PERIODS}/3", headers=root.citizen(), periodId="3"),
        404,
    )


# ------------------------------------------------------------------------ IBAN

IBAN = "IT60X0542811101000000123456"


async def set_iban(root: CashbackRoot, body: Any) -> func.HttpResponse:
    return await call(
        "cashback_set_iban", "PUT", f"{CITIZEN}/iban", body=body, headers=root.citizen()
    )


async def test_an_iban_is_checked_through_the_queue_trigger(root: CashbackRoot) -> None:
    await enroll(root)
    root.scene.bank.accounts[IBAN] = CF
    response = await set_iban(root, {"iban": IBAN, "ownerName": "Mario Rossi"})
    assert response.status_code == 200, response.get_body()
    assert (parsed(response)["iban"], parsed(response)["ibanStatus"]) == (
        "*" * 23 + "3456",
        "PENDING",
    )
    [body] = root.scene.iban_checks()
    await trigger(app, "cashback_iban_check")(message(body, "iban-1"))
    shown = parsed(await call("cashback_citizen", "GET", CITIZEN, headers=root.citizen()))
    assert shown["ibanStatus"] == "OK"
    assert IBAN not in json.dumps(shown)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"iban": "IT61X0542811101000000123456", "ownerName": "M R"}, 422),
        ({"iban": "IT60X054281110100000012345", "ownerName": "M R"}, 422),
        ({"iban": IBAN}, 422),
        ({"iban": IBAN, "ownerName": ""}, 422),
        ({"iban": IBAN, "ownerName": "M R", "x": 1}, 422),
        ({"iban": 1, "ownerName": "M"}, 422),
    ],
)
async def test_bad_ibans_are_4xx(root: CashbackRoot, body: Any, status: int) -> None:
    await enroll(root)
    problem(await set_iban(root, body), status)
    assert root.scene.iban_checks() == []


async def test_an_iban_before_enrolling_is_409(root: CashbackRoot) -> None:
    problem(await set_iban(root, {"iban": IBAN, "ownerName": "M R"}), 409)


async def test_a_full_batch_of_10000_lines_is_accepted_in_chunks(root: CashbackRoot) -> None:
    root.clock.set(datetime.fromisoformat("2026-12-12T10:00:00+01:00"))
    longest = "x" * 64
    lines = [
        transaction(
            i,
            merchantId=longest,
            terminalId=longest,
            correlationId=longest,
            idTrxAcquirer=f"{i:0>64}",
        )
        for i in range(10_000)
    ]
    response = await submit({"transactions": lines})
    assert response.status_code == 202, response.get_body()
    assert parsed(response) == {"accepted": 10_000, "rejected": []}
    assert len(root.sender.sent) == 40
    assert max(len(m.body) for _, m in root.sender.sent) < 200 * 1024


async def test_the_payout_timer_writes_a_closed_periods_list(root: CashbackRoot) -> None:
    await enroll(root)
    root.scene.bank.accounts[IBAN] = CF
    await set_iban(root, {"iban": IBAN, "ownerName": "Mario Rossi"})
    [body] = root.scene.iban_checks()
    await trigger(app, "cashback_iban_check")(message(body, "iban-1"))
    wallet_id = await root.scene.onboard(CF, HPAN_A)
    await call(
        "cashback_enable_instrument",
        "PUT",
        f"{INSTRUMENTS}/{wallet_id}",
        headers=root.citizen(),
        walletId=wallet_id,
    )
    root.clock.set(datetime.fromisoformat("2026-12-20T10:00:00+01:00"))
    await submit({"transactions": [transaction(i, amount=20000) for i in range(3)]})
    [(_, outgoing)] = root.sender.sent
    await trigger(app, "cashback_score")(message(outgoing.body, outgoing.message_id))
    await trigger(app, "cashback_payouts")(TimerRequest(past_due=False))
    assert root.payout_files.files == {}  # the period is still open
    root.clock.set(datetime.fromisoformat("2027-01-03T00:00:00+01:00"))
    await trigger(app, "cashback_payouts")(TimerRequest(past_due=False))
    assert root.payout_files.files["period-9/payouts.csv"].decode().splitlines() == [
        "fiscalCode,iban,amountCents,typology",
        f"{CF},{IBAN},4500,01",
    ]


async def test_the_transactions_of_a_period_newest_first_with_a_token(root: CashbackRoot) -> None:
    await enroll(root)
    wallet_id = await root.scene.onboard(CF, HPAN_A)
    await call(
        "cashback_enable_instrument",
        "PUT",
        f"{INSTRUMENTS}/{wallet_id}",
        headers=root.citizen(),
        walletId=wallet_id,
    )
    root.clock.set(datetime.fromisoformat("2026-12-20T10:00:00+01:00"))
    await submit(
        {
            "transactions": [
                transaction(i, trxDate=f"2026-12-10T12:{i:02d}:00+01:00") for i in range(55)
            ]
        }
    )
    [(_, outgoing)] = root.sender.sent
    await trigger(app, "cashback_score")(message(outgoing.body, outgoing.message_id))

    async def page(token: str | None = None, period: str = "9") -> func.HttpResponse:
        response: func.HttpResponse = await trigger(app, "cashback_period_transactions")(
            request(
                "GET",
                f"{PERIODS}/{period}/transactions",
                headers=root.citizen(),
                route_params={"periodId": period},
                params={"continuationToken": token} if token else {},
            )
        )
        return response

    first = parsed(await page())
    assert len(first["transactions"]) == 50
    assert first["transactions"][0] == {
        "at": "2026-12-10T12:54:00+01:00",
        "acquirerId": "DEMOACQ",
        "acquirerCode": "12345",
        "idTrxAcquirer": "t54",
        "operationType": "00",
        "amount": 2500,
        "merchantId": "m1",
        "status": "COUNTED",
        "count": 1,
        "cashback": 250,
    }
    second = parsed(await page(first["continuationToken"]))
    assert [t["idTrxAcquirer"] for t in second["transactions"]] == [
        f"t{i}" for i in range(4, -1, -1)
    ]
    assert second["continuationToken"] is None
    problem(await page("not-a-token"), 400)
    problem(await page(period="3"), 404)
