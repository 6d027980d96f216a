"""A citizen pays a notice: the transaction's state machine and every failure path, on fakes
of the node, the wallet, the PSP's gateway, the store and the notifier."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared.payments.fees import Fees
from shared.payments.paying import OTHER_CONFIRMATION, TOKEN_EXPIRED, PaymentPolicy, Payments
from shared.payments.receipt_model import Person
from shared.payments.settling import RECEIPTS_PATH, Settlement
from shared.payments.transaction_models import AuthRequestIn, NewTransactionIn
from shared.payments.transaction_store import from_document
from shared.payments.transactions import Transaction
from shared.platform.errors import Conflict, DependencyError, Gone, Invalid, NotFound
from tests.fakes.payments import FakeReceiptStore
from tests.fakes.payments_tx import (
    FakeChargeGateway,
    FakeDebtors,
    FakeNode,
    FakeNotifier,
    FakeWallet,
    MemoryTransactionStore,
)

EC = "77777777777"
NOTICE = "302000100000009424"
USER = "a" * 64
OTHER = "b" * 64
FISCAL_CODE = "RSSMRA80A01H501U"
W1 = "w" + "1" * 80
W2 = "w" + "2" * 80
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


class Crash(BaseException):
    """The process dying (not an Exception: nothing in the service may catch it)."""


class World:
    def __init__(self, *, stand_in: bool = False) -> None:
        self.store = MemoryTransactionStore()
        self.node = FakeNode(stand_in=stand_in)
        self.node.publish(EC, NOTICE)
        self.wallet = FakeWallet()
        self.wallet.add(USER, W1)
        self.gateway = FakeChargeGateway()
        self.receipts = FakeReceiptStore()
        self.notifier = FakeNotifier()
        self.debtors = FakeDebtors()
        self.crash_after_charge = False

        def after_charge() -> None:
            if self.crash_after_charge:
                raise Crash()

        settlement = Settlement(
            store=self.store,
            node=self.node,
            gateway=self.gateway,
            wallet=self.wallet,
            receipts=self.receipts,
            notifier=self.notifier,
            charge_psp_id="DEMOPSP",
            after_charge=after_charge,
        )
        self.payments = Payments(
            store=self.store,
            node=self.node,
            wallet=self.wallet,
            debtors=self.debtors,
            settlement=settlement,
            fees=Fees({"APPPSP": 100}),
            policy=PaymentPolicy(node_psp_id="APPPSP", charge_psp_id="DEMOPSP"),
        )

    async def create(self, now: datetime = T0) -> Transaction:
        request = NewTransactionIn(notice_code=NOTICE, ec_fiscal_code=EC)
        return await self.payments.create(USER, FISCAL_CODE, request, now=now)

    async def pay(
        self, transaction: Transaction, key: str = "tap-1", now: datetime = T0
    ) -> Transaction:
        request = AuthRequestIn(wallet_id=W1, idempotency_key=key)
        return await self.payments.authorize(USER, transaction.transaction_id, request, now=now)

    def stored(self, transaction: Transaction) -> Transaction:
        document = self.store.items[(f"tx:{USER}", f"tx:{transaction.transaction_id}")]
        return from_document(document)


# ---------------------------------------------------------------- create


async def test_a_new_transaction_shows_amount_fee_ec_and_expiry() -> None:
    world = World()
    transaction = await world.create()
    assert transaction.status == "ACTIVATED"
    assert (transaction.amount, transaction.fee, transaction.total) == (12550, 100, 12650)
    assert transaction.ec_name == "Comune di Prova"
    assert transaction.expires_at == T0 + timedelta(minutes=30)
    assert world.stored(transaction) == transaction


async def test_a_scanned_qr_code_creates_the_same_transaction() -> None:
    world = World()
    request = NewTransactionIn(scanned=f"PAGOPA|002|{NOTICE}|{EC}|0000012550")
    transaction = await world.payments.create(USER, FISCAL_CODE, request, now=T0)
    assert (transaction.notice_code, transaction.ec_fiscal_code) == (NOTICE, EC)


async def test_a_malformed_scan_is_refused_before_the_node_is_asked() -> None:
    world = World()
    request = NewTransactionIn(scanned=f"PAGOPA|002|{NOTICE}|{EC}|12.50")
    with pytest.raises(Invalid) as caught:
        await world.payments.create(USER, FISCAL_CODE, request, now=T0)
    assert caught.value.status == 422
    assert world.node.notices[(EC, NOTICE)].token is None


def test_a_new_transaction_names_its_notice_one_way() -> None:
    for wrong in (
        {},
        {"noticeCode": NOTICE},
        {"noticeCode": NOTICE, "ecFiscalCode": EC, "scanned": "x"},
    ):
        with pytest.raises(ValueError, match="noticeCode and ecFiscalCode, or scanned"):
            NewTransactionIn.model_validate(wrong)


async def test_a_notice_being_paid_cannot_be_activated_again() -> None:
    world = World()
    await world.create()
    with pytest.raises(Conflict):
        await world.create()


# ---------------------------------------------------------------- paying


async def test_a_confirmed_payment_is_charged_closed_receipted_and_notified() -> None:
    world = World()
    transaction = await world.pay(await world.create())
    assert transaction.status == "NOTIFIED_OK"
    assert world.stored(transaction).status == "NOTIFIED_OK"
    assert world.gateway.charged() == 12650
    assert world.node.oks() == 1
    assert world.node.notices[(EC, NOTICE)].paid
    (receipt, url) = world.notifier.sent[0]
    assert url == RECEIPTS_PATH + receipt.receipt_id
    assert (receipt.amount, receipt.fee, receipt.method) == (12550, 100, "VISA ···· 4242")
    assert await world.receipts.get_for(USER, receipt.receipt_id) == receipt
    assert world.wallet.usage == [W1]


async def test_a_double_tap_pays_once() -> None:
    world = World()
    created = await world.create()
    first = await world.pay(created)
    second = await world.pay(created)
    assert first.status == second.status == "NOTIFIED_OK"
    assert world.gateway.requests == 1
    assert world.node.oks() == 1
    assert len(world.notifier.sent) == 1


async def test_two_simultaneous_taps_pay_once() -> None:
    world = World()
    created = await world.create()
    await asyncio.gather(world.pay(created), world.pay(created))
    assert world.gateway.requests == 1
    assert world.node.oks() == 1
    assert world.stored(created).status == "NOTIFIED_OK"


async def test_a_confirmation_with_another_key_is_refused() -> None:
    world = World()
    created = await world.create()
    await world.pay(created, key="tap-1")
    with pytest.raises(Conflict) as caught:
        await world.pay(created, key="tap-2")
    assert caught.value.code == OTHER_CONFIRMATION
    assert world.gateway.requests == 1


async def test_another_citizens_instrument_is_not_found_and_nothing_is_charged() -> None:
    world = World()
    world.wallet.add(OTHER, W2)
    created = await world.create()
    with pytest.raises(NotFound):
        await world.payments.authorize(
            USER, created.transaction_id, AuthRequestIn(wallet_id=W2, idempotency_key="k"), now=T0
        )
    assert world.gateway.requests == 0
    assert world.stored(created).status == "ACTIVATED"


async def test_an_instrument_not_enabled_for_pagopa_cannot_pay() -> None:
    world = World()
    world.wallet.add(USER, W1, pagopa=False)
    created = await world.create()
    with pytest.raises(Conflict):
        await world.pay(created)
    assert world.gateway.requests == 0
    assert world.stored(created).status == "ACTIVATED"


async def test_another_citizen_cannot_see_or_pay_the_transaction() -> None:
    world = World()
    created = await world.create()
    with pytest.raises(NotFound):
        await world.payments.get(OTHER, created.transaction_id, now=T0)
    with pytest.raises(NotFound):
        await world.payments.authorize(
            OTHER,
            created.transaction_id,
            AuthRequestIn(wallet_id=W1, idempotency_key="k"),
            now=T0,
        )


# ---------------------------------------------------------------- failure paths


async def test_a_declined_charge_frees_the_notice_and_charges_nothing() -> None:
    world = World()
    world.gateway.answer = "DECLINED"
    transaction = await world.pay(await world.create())
    assert transaction.status == "UNAUTHORIZED"
    assert world.gateway.charged() == 0
    assert world.node.oks() == 0
    assert world.notifier.sent == []
    # Free again: a new payment of the notice is activated at once.
    assert (await world.create()).status == "ACTIVATED"


async def test_a_timeout_after_the_gateway_charged_ends_by_asking_it() -> None:
    world = World()
    world.gateway.lose = True
    transaction = await world.pay(await world.create())
    assert transaction.status == "NOTIFIED_OK"
    assert world.gateway.requests == 1
    assert world.gateway.charged() == 12650


async def test_a_timeout_before_the_gateway_charged_voids_the_charge() -> None:
    world = World()
    world.gateway.never_arrives = True
    created = await world.create()
    transaction = await world.pay(created)
    assert transaction.status == "UNAUTHORIZED"
    assert world.gateway.charged() == 0
    # The request arriving late cannot charge: its charge id is void.
    world.gateway.never_arrives = False
    late = await world.gateway.charge(
        psp_id="DEMOPSP",
        charge_id=created.transaction_id,
        contract_id="C",
        amount=1,
        description="",
    )
    assert late.status == "CANCELED"
    assert world.gateway.charged() == 0


async def test_a_gateway_that_cannot_be_asked_leaves_it_to_the_reconciler() -> None:
    world = World()
    world.gateway.down = True
    created = await world.create()
    transaction = await world.pay(created)
    assert transaction.status == "AUTHORIZATION_REQUESTED"
    assert await world.payments.reconcile(now=T0 + timedelta(seconds=30)) == 0  # not stuck yet
    world.gateway.down = False
    assert await world.payments.reconcile(now=T0 + timedelta(minutes=5)) == 1
    assert world.stored(created).status == "UNAUTHORIZED"
    assert world.gateway.charged() == 0
    assert world.gateway.requests == 1


async def test_a_crash_between_charge_and_outcome_completes_once_on_reconcile() -> None:
    world = World()
    world.crash_after_charge = True
    created = await world.create()
    with pytest.raises(Crash):
        await world.pay(created)
    assert world.stored(created).status == "AUTHORIZATION_REQUESTED"
    assert world.gateway.charged() == 12650
    assert world.node.oks() == 0
    world.crash_after_charge = False
    await world.payments.reconcile(now=T0 + timedelta(minutes=5))
    await world.payments.reconcile(now=T0 + timedelta(minutes=10))
    assert world.stored(created).status == "NOTIFIED_OK"
    assert world.gateway.requests == 1
    assert world.gateway.charged() == 12650
    assert world.node.oks() == 1
    assert len(world.notifier.sent) == 1


async def test_a_crash_after_the_outcome_completes_without_a_second_outcome() -> None:
    world = World()
    created = await world.create()
    # The node takes the outcome, then the process dies before the CLOSED write.
    world.store.crash_on = ("CLOSED", Crash())
    with pytest.raises(Crash):
        await world.pay(created)
    world.store.crash_on = None
    assert world.stored(created).status == "AUTHORIZATION_COMPLETED"
    assert world.node.oks() == 1
    await world.payments.reconcile(now=T0 + timedelta(minutes=5))
    assert world.stored(created).status == "NOTIFIED_OK"
    assert world.node.oks() == 1
    assert world.gateway.charged() == 12650
    assert len(world.notifier.sent) == 1


async def test_an_outcome_the_node_refuses_is_refunded() -> None:
    world = World()
    world.node.outcome_error = Conflict("token replaced", code="TOKEN_NOT_LIVE")
    transaction = await world.pay(await world.create())
    assert transaction.status == "REFUNDED"
    assert world.gateway.charged() == 0
    assert world.notifier.sent == []


async def test_an_outcome_the_node_cannot_take_now_is_sent_again_by_the_reconciler() -> None:
    world = World()
    world.node.outcome_error = DependencyError("cosmos", "down")
    created = await world.create()
    assert (await world.pay(created)).status == "AUTHORIZATION_COMPLETED"
    world.node.outcome_error = None
    await world.payments.reconcile(now=T0 + timedelta(minutes=5))
    assert world.stored(created).status == "NOTIFIED_OK"
    assert world.node.oks() == 1


async def test_an_expired_token_is_refused_and_nothing_is_charged() -> None:
    world = World()
    created = await world.create()
    with pytest.raises(Gone) as caught:
        await world.pay(created, now=T0 + timedelta(minutes=31))
    assert caught.value.code == TOKEN_EXPIRED
    assert world.stored(created).status == "EXPIRED_NOT_AUTHORIZED"
    assert world.gateway.requests == 0


async def test_a_canceled_transaction_frees_the_notice() -> None:
    world = World()
    created = await world.create()
    canceled = await world.payments.cancel(USER, created.transaction_id, now=T0)
    assert canceled.status == "CANCELED"
    assert (await world.create()).status == "ACTIVATED"
    with pytest.raises(Conflict):
        await world.pay(created)


async def test_a_stand_in_payment_completes_the_same_way() -> None:
    world = World(stand_in=True)
    transaction = await world.pay(await world.create())
    assert transaction.status == "NOTIFIED_OK"
    assert transaction.stand_in
    assert world.notifier.sent[0][0].stand_in


async def test_the_receipt_names_the_archives_debtor_and_the_payer() -> None:
    world = World()
    debtor = Person(fiscal_code="VRDLGU75B02F205X", full_name="Luigi Verdi", user_id=OTHER)
    world.debtors.known[(EC, NOTICE)] = debtor
    await world.pay(await world.create())
    receipt = world.notifier.sent[0][0]
    assert receipt.debtor == debtor
    assert (receipt.payer.fiscal_code, receipt.payer.user_id) == (FISCAL_CODE, USER)
    assert await world.receipts.get_for(OTHER, receipt.receipt_id) == receipt  # the debtor's too


async def test_without_a_known_debtor_the_payer_stands_for_them() -> None:
    world = World()
    await world.pay(await world.create())
    receipt = world.notifier.sent[0][0]
    assert receipt.debtor == receipt.payer


async def test_an_id_this_service_never_gives_is_not_found() -> None:
    world = World()
    for odd in ("", "x" * 300, "../tx", "0" * 31, "A" * 32):
        with pytest.raises(NotFound):
            await world.payments.get(USER, odd, now=T0)


async def test_a_step_whose_document_changed_meanwhile_decides_on_the_stored_one() -> None:
    world = World()
    created = await world.create()
    key = (f"tx:{USER}", f"tx:{created.transaction_id}")

    def touched() -> None:  # another writer rewrites it while the gateway charges: new ETag
        world.store.items[key]["_etag"] = "changed"

    world.gateway.on_charge = touched
    transaction = await world.pay(created)
    assert transaction.status == "NOTIFIED_OK"
    assert world.stored(created).status == "NOTIFIED_OK"
    assert world.gateway.requests == 1
    assert world.node.oks() == 1
