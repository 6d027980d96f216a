"""The payments' pushes go through push's real service and worker (in-memory ports): to the
right citizens, once, as the sender ``payments``, outside the external senders' limits, and
not to a citizen who opted out of the topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.parties.models import PartyIn
from shared.parties.service import PartyRegistry
from shared.payments.notify import PaymentsNotifier, euros
from shared.payments.receipt_model import Person, Receipt
from shared.platform.clock import FixedClock
from shared.push.hubs import installation_id
from shared.push.models import CreateOrUpdateInstallation, Notify
from shared.push.preferences import Preferences, PushPreferences
from shared.push.service import PushRequests, PushWorker
from tests.fakes.parties import MemoryPartyStore
from tests.fakes.platform import MemorySender
from tests.fakes.push import MemoryInstallationStates, MemorySenderUsage
from tests.unit.push.factories import FakeHubs, device_token, fiscal_code

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
PAYER = fiscal_code(1)
DEBTOR = fiscal_code(2)
QUEUE = "push"


def receipt(payer: str = PAYER, debtor: str = DEBTOR, receipt_id: str = "r-1") -> Receipt:
    return Receipt(
        receipt_id=receipt_id,
        transaction_id="t-1",
        payment_token="tok-1",
        notice_code="301000000000000001",
        ec_fiscal_code="77777777777",
        ec_name="Comune di Demo",
        description="TARI 2026",
        amount=12_050,
        fee=100,
        psp_id="DEMOPSP",
        psp_name="Demo PSP",
        method="VISA ···· 4242",
        paid_at=NOW,
        stand_in=False,
        debtor=Person(fiscal_code=debtor),
        payer=Person(fiscal_code=payer),
    )


class Push:
    def __init__(self, *, requests_per_minute: int = 1) -> None:
        self.sender = MemorySender()
        self.usage = MemorySenderUsage()
        self.registry = PartyRegistry(MemoryPartyStore(), cache_seconds=0)
        self.requests = PushRequests(self.sender, QUEUE, self.usage)
        self.states = MemoryInstallationStates()
        self.hubs = FakeHubs()
        self.worker = PushWorker(self.hubs, self.states)
        self.notifier = PaymentsNotifier(self.requests, self.registry, FixedClock(NOW))
        self.limit = requests_per_minute

    async def seed(self) -> Push:
        await self.registry.register(
            PartyIn.model_validate(
                {
                    "partyId": "payments",
                    "name": "Payments",
                    "role": "sender",
                    "sendLimits": {
                        "requestsPerMinute": self.limit,
                        "recipientsPerMinute": self.limit,
                    },
                }
            ),
            now=NOW,
        )
        return self

    async def install(self, code: str, n: int) -> None:
        await self.worker.apply(
            CreateOrUpdateInstallation(
                installation_id=installation_id(code),
                accepted_at=NOW,
                platform="APNS",
                push_channel=device_token(n),
            )
        )

    def queued(self) -> list[Notify]:
        return [Notify.model_validate_json(m.body) for q, m in self.sender.sent if q == QUEUE]

    async def work(self) -> None:
        for notify in self.queued():
            await self.worker.notify(notify)


@pytest.fixture
async def push() -> Push:
    return await Push().seed()


async def test_payment_received_reaches_payer_and_debtor(push: Push) -> None:
    await push.install(PAYER, 1)
    await push.install(DEBTOR, 2)
    await push.notifier.payment_received(receipt(), receipt_url="https://app/r/r-1")
    queued = push.queued()
    assert {n.installation_id for n in queued} == {installation_id(PAYER), installation_id(DEBTOR)}
    assert {(n.sender, n.topic, n.title) for n in queued} == {
        ("payments", "paymentReceived", "Pagamento ricevuto")
    }
    assert queued[0].data["receiptUrl"] == "https://app/r/r-1"
    assert euros(12_150) in queued[0].body
    await push.work()
    assert len(push.hubs.sends) == 2


async def test_a_payer_who_is_the_debtor_is_notified_once(push: Push) -> None:
    await push.notifier.payment_received(receipt(DEBTOR, DEBTOR), receipt_url="https://app/r")
    assert [n.installation_id for n in push.queued()] == [installation_id(DEBTOR)]


async def test_a_company_debtor_is_left_out(push: Push) -> None:
    await push.notifier.payment_received(receipt(PAYER, "12345678901"), receipt_url="https://x")
    assert [n.installation_id for n in push.queued()] == [installation_id(PAYER)]


async def test_the_same_receipt_again_has_the_same_message_ids(push: Push) -> None:
    await push.notifier.payment_received(receipt(), receipt_url="https://app/r")
    await push.notifier.payment_received(receipt(), receipt_url="https://app/r")
    ids = [m.message_id for _, m in push.sender.sent]
    assert len(ids) == 4
    assert len(set(ids)) == 2


async def test_the_payments_sender_is_not_held_to_a_senders_limits(push: Push) -> None:
    for n in range(5):  # its registry entry allows one request a minute
        await push.notifier.payment_received(receipt(receipt_id=f"r-{n}"), receipt_url="https://x")
    assert len(push.queued()) == 10
    assert push.usage.counts == {}


async def test_an_opted_out_citizen_gets_no_push_of_that_topic(push: Push) -> None:
    await push.install(PAYER, 1)
    await push.install(DEBTOR, 2)
    preferences = PushPreferences(push.states)
    await preferences.put(DEBTOR, Preferences(payment_received=False))
    await push.notifier.payment_received(receipt(), receipt_url="https://app/r")
    await push.notifier.new_notice(
        fiscal_code=DEBTOR,
        ec_name="Comune di Demo",
        amount=12_050,
        due_date=NOW + timedelta(days=30),
        notice_code="301000000000000001",
        ec_fiscal_code="77777777777",
        key="notice:ACA_77777777777_01000000000000001",
    )
    await push.work()
    sent = [(i, json.loads(n.body)["aps"]["alert"]["title"]) for i, _, n in push.hubs.sends]
    assert sorted(sent) == sorted(
        [
            (installation_id(PAYER), "Pagamento ricevuto"),
            (installation_id(DEBTOR), "Hai un nuovo avviso da pagare"),
        ]
    )


async def test_new_notice_names_the_ec_amount_and_due_day(push: Push) -> None:
    await push.notifier.new_notice(
        fiscal_code=DEBTOR,
        ec_name="Comune di Demo",
        amount=123_456,
        due_date=datetime(2027, 1, 31, 23, 0, tzinfo=UTC),  # 1 February in Italy
        notice_code="301000000000000001",
        ec_fiscal_code="77777777777",
        key="notice:x",
    )
    (queued,) = push.queued()
    assert queued.title == "Hai un nuovo avviso da pagare"
    assert queued.body == "Comune di Demo: € 1.234,56 entro il 01/02/2027"
    assert queued.topic == "newNotice"


async def test_a_notice_code_that_passes_the_card_check_digit_still_pushes(push: Push) -> None:
    # 301000000000000002 passes Luhn: alone in the data, push would refuse it as a card number
    await push.notifier.new_notice(
        fiscal_code=DEBTOR,
        ec_name="Comune di Demo",
        amount=100,
        due_date=NOW,
        notice_code="301000000000000002",
        ec_fiscal_code="77777777777",
        key="notice:y",
    )
    (queued,) = push.queued()
    assert queued.data["noticeRef"] == "77777777777301000000000000002"
