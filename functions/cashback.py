"""The state cashback's triggers: citizens' enrollment, IBAN, instruments and periods;
acquirers' transactions and their scoring; the wallet's events; the IBAN checks; the ranking and
payout timers (see :mod:`shared.cashback.service` and its neighbours)."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.cashback.acquirer_api import BatchAccepted, TransactionBatchIn
from shared.cashback.awards import (
    AwardList,
    AwardView,
    IntegrationIn,
    OutcomesApplied,
    OutcomesIn,
)
from shared.cashback.models import (
    AlertsIn,
    CashbackInstrument,
    CashbackInstrumentList,
    Citizen,
    EnrollmentIn,
    IbanIn,
    PeriodList,
    PeriodState,
    TransactionPage,
    WithdrawalPreview,
)
from shared.cashback.tokens import TokenListIn, TokensAccepted
from shared.platform.queue_work import Delivery

bp = func.Blueprint()

CITIZEN = "v1/cashback/citizen"
INSTRUMENTS = "v1/cashback/instruments"
PERIODS = "v1/cashback/periods"
TRANSACTIONS = "v1/cashback/transactions"
TOKENS = "v1/cashback/tokens"


@endpoint(
    bp,
    CITIZEN,
    "PUT",
    auth="citizen",
    body=EnrollmentIn,
    returns=Citizen,
    errors=(409,),
    max_body=1024,
    tags=("cashback",),
    summary="Enroll in cashback, accepting its terms and conditions (again: unchanged)",
)
async def cashback_enroll(call: Call[EnrollmentIn]) -> Citizen:
    return await call.root.cashback().enroll(call.citizen.fiscal_code, now=call.now)


@endpoint(
    bp,
    CITIZEN,
    "GET",
    auth="citizen",
    returns=Citizen,
    errors=(404,),
    tags=("cashback",),
    summary="The caller's cashback enrollment",
)
async def cashback_citizen(call: Call[BaseModel]) -> Citizen:
    return await call.root.cashback().citizen(call.citizen.fiscal_code)


@endpoint(
    bp,
    CITIZEN + "/withdrawal",
    "GET",
    auth="citizen",
    returns=WithdrawalPreview,
    errors=(404,),
    tags=("cashback",),
    summary="What withdrawing would do, to show before the citizen confirms: instruments "
    "disabled, IBAN cleared, every period's count, cashback and rank set to zero",
)
async def cashback_withdrawal_preview(call: Call[BaseModel]) -> WithdrawalPreview:
    return await call.root.cashback().withdrawal_preview(call.citizen.fiscal_code, now=call.now)


@endpoint(
    bp,
    CITIZEN,
    "DELETE",
    auth="citizen",
    status=204,
    errors=(404, 409),
    tags=("cashback",),
    summary="Withdraw from cashback (show GET /citizen/withdrawal first): every instrument "
    "disabled, the IBAN cleared, every period's count, cashback and rank set to zero",
)
async def cashback_withdraw(call: Call[BaseModel]) -> None:
    await call.root.cashback().withdraw(call.citizen.fiscal_code, now=call.now)


@endpoint(
    bp,
    CITIZEN + "/alerts",
    "PUT",
    auth="citizen",
    body=AlertsIn,
    returns=AlertsIn,
    errors=(404,),
    max_body=1024,
    tags=("cashback",),
    summary="Which of cashback's notifications the citizen gets (period closing, add your "
    "IBAN, payout done): each can be turned off",
)
async def cashback_alerts(call: Call[AlertsIn]) -> AlertsIn:
    return await call.root.cashback().choose_alerts(
        call.citizen.fiscal_code, call.body, now=call.now
    )


@endpoint(
    bp,
    CITIZEN + "/iban",
    "PUT",
    auth="citizen",
    body=IbanIn,
    returns=Citizen,
    errors=(409,),
    max_body=1024,
    tags=("cashback",),
    summary="Where payouts go: an Italian IBAN, checked with the bank asynchronously",
)
async def cashback_set_iban(call: Call[IbanIn]) -> Citizen:
    return await call.root.cashback().set_iban(call.citizen.fiscal_code, call.body, now=call.now)


@endpoint(
    bp,
    INSTRUMENTS,
    "GET",
    auth="citizen",
    returns=CashbackInstrumentList,
    tags=("cashback",),
    summary="The caller's instruments with their cashback state",
)
async def cashback_instruments(call: Call[BaseModel]) -> CashbackInstrumentList:
    return await call.root.cashback().instruments(call.citizen.fiscal_code)


@endpoint(
    bp,
    INSTRUMENTS + "/{walletId}",
    "PUT",
    auth="citizen",
    returns=CashbackInstrument,
    errors=(404, 409),
    tags=("cashback",),
    summary="Enable a validated instrument of the caller's wallet for cashback",
)
async def cashback_enable_instrument(call: Call[BaseModel]) -> CashbackInstrument:
    return await call.root.cashback().enable(
        call.citizen.fiscal_code, call.param("walletId"), now=call.now
    )


@endpoint(
    bp,
    INSTRUMENTS + "/{walletId}",
    "DELETE",
    auth="citizen",
    status=204,
    errors=(404, 409),
    tags=("cashback",),
    summary="Disable one of the caller's instruments for cashback (again: 204 too)",
)
async def cashback_disable_instrument(call: Call[BaseModel]) -> None:
    await call.root.cashback().disable(
        call.citizen.fiscal_code, call.param("walletId"), now=call.now
    )


@endpoint(
    bp,
    PERIODS,
    "GET",
    auth="citizen",
    returns=PeriodList,
    tags=("cashback",),
    summary="The award periods, newest first, with the caller's state in each",
)
async def cashback_periods(call: Call[BaseModel]) -> PeriodList:
    return await call.root.cashback().periods(call.citizen.fiscal_code, now=call.now)


@endpoint(
    bp,
    PERIODS + "/{periodId}",
    "GET",
    auth="citizen",
    returns=PeriodState,
    errors=(404,),
    tags=("cashback",),
    summary="One award period with the caller's state: count, cashback, milestones",
)
async def cashback_period(call: Call[BaseModel]) -> PeriodState:
    return await call.root.cashback().period(
        call.citizen.fiscal_code, call.param("periodId"), now=call.now
    )


@endpoint(
    bp,
    PERIODS + "/{periodId}/transactions",
    "GET",
    auth="citizen",
    returns=TransactionPage,
    errors=(400, 404),
    tags=("cashback",),
    query={"continuationToken": "From the previous page, for the next one"},
    summary="The caller's scored transactions in a period, newest first, paged",
)
async def cashback_period_transactions(call: Call[BaseModel]) -> TransactionPage:
    return await call.root.cashback().transactions(
        call.citizen.fiscal_code,
        call.param("periodId"),
        continuation=call.request.params.get("continuationToken"),
    )


@endpoint(
    bp,
    TRANSACTIONS,
    "POST",
    auth="party",
    roles=("acquirer",),
    body=TransactionBatchIn,
    returns=BatchAccepted,
    status=202,
    errors=(403,),
    max_body=8 * 1024 * 1024,
    tags=("cashback",),
    summary="An acquirer's batch of up to 10,000 transactions: each line is checked, "
    "the acceptable ones are scored asynchronously",
)
async def cashback_transactions(call: Call[TransactionBatchIn]) -> BatchAccepted:
    party = call.the_party
    return await call.root.cashback_intake().submit(
        party.party_id, call.body, now=call.now, acts_for=party.acts_for
    )


@endpoint(
    bp,
    TOKENS,
    "POST",
    auth="party",
    roles=("acquirer",),
    body=TokenListIn,
    returns=TokensAccepted,
    errors=(403,),
    max_body=2 * 1024 * 1024,
    tags=("cashback",),
    summary="An acquirer's token list: Apple Pay / Google Pay token hpans and the card hpan "
    "each stands for (their transactions count as the card's)",
)
async def cashback_tokens(call: Call[TokenListIn]) -> TokensAccepted:
    return await call.root.cashback().submit_tokens(
        call.the_party.party_id, call.body, now=call.now
    )


@endpoint(
    bp,
    "ops/cashback/tokens",
    "POST",
    auth="admin",
    body=TokenListIn,
    returns=TokensAccepted,
    max_body=2 * 1024 * 1024,
    tags=("operators",),
    summary="Operators submit token hpan -> card hpan pairs (as an acquirer's token list)",
)
async def cashback_ops_tokens(call: Call[TokenListIn]) -> TokensAccepted:
    return await call.root.cashback().submit_tokens("ops", call.body, now=call.now)


@endpoint(
    bp,
    "v1/cashback/awards",
    "GET",
    auth="citizen",
    returns=AwardList,
    tags=("cashback",),
    summary="The caller's payouts: per period the amount, status, and the bank transfer's "
    "outcome, reference (CRO) and date; integrative payments too",
)
async def cashback_awards(call: Call[BaseModel]) -> AwardList:
    return await call.root.cashback().awards(call.citizen.fiscal_code)


@endpoint(
    bp,
    "ops/cashback/awards/integrations",
    "POST",
    auth="admin",
    body=IntegrationIn,
    returns=AwardView,
    max_body=4096,
    tags=("operators",),
    summary="An integrative payment (a complaint upheld): sent in the next payout run's file",
)
async def cashback_ops_integration(call: Call[IntegrationIn]) -> AwardView:
    return await call.root.cashback().integrate(call.body, now=call.now)


@endpoint(
    bp,
    "ops/cashback/payout-outcomes",
    "POST",
    auth="admin",
    body=OutcomesIn,
    returns=OutcomesApplied,
    max_body=9 * 1024 * 1024,
    tags=("operators",),
    summary="The paying agent's outcomes file: each transfer's result, reason and CRO "
    "(a KO is sent again once the citizen's IBAN is usable)",
)
async def cashback_ops_payout_outcomes(call: Call[OutcomesIn]) -> OutcomesApplied:
    return await call.root.cashback().payout_outcomes(call.body, now=call.now)


@queue_trigger(bp, "CASHBACK_TRANSACTIONS_QUEUE")
async def cashback_score(delivery: Delivery) -> None:
    """A chunk of acquirers' transactions, scored on citizens' period states."""
    await get_root().cashback_scorer().process(delivery.body)


@bp.timer_trigger(arg_name="timer", schedule="%CASHBACK_RANK_SCHEDULE%")
async def cashback_rank(timer: func.TimerRequest) -> None:
    """Every hour: the ranking of each period still taking transactions (the ranking rule),
    and the citizens of a period about to close told so (once: push drops a repeat key)."""
    root = get_root()
    now = root.clock.now()
    await root.cashback_ranking().run(now=now)
    await root.cashback_alerts().period_closing(root.cashback().calendar, now=now)


@bp.timer_trigger(arg_name="timer", schedule="%CASHBACK_PAYOUTS_SCHEDULE%")
async def cashback_payouts(timer: func.TimerRequest) -> None:
    """Every night: the payout list of each period closed since, written once (the payout rule)."""
    root = get_root()
    await root.cashback_payouts().run(now=root.clock.now())


@queue_trigger(bp, "IBAN_CHECK_QUEUE")
async def cashback_iban_check(delivery: Delivery) -> None:
    """A citizen's IBAN, checked with the bank; its answer recorded once."""
    root = get_root()
    await root.cashback().on_iban_check(delivery.body, now=root.clock.now())


@queue_trigger(bp, "WALLET_EVENTS_QUEUE")
async def cashback_wallet_events(delivery: Delivery) -> None:
    """The wallet's instrument events: cashback learns hpans and follows deletions."""
    root = get_root()
    await root.cashback().on_wallet_event(delivery.body, now=root.clock.now())
