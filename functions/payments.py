"""The payment transactions' triggers: a citizen pays a notice (create, confirm with a wallet
instrument, read, cancel), and the timer that finishes payments left in flight."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, endpoint
from functions.root import get_root
from shared.payments.transaction_models import AuthRequestIn, NewTransactionIn, TransactionOut

bp = func.Blueprint()

TRANSACTIONS = "v1/payments/transactions"
ONE = TRANSACTIONS + "/{transactionId}"


async def _user(call: Call[Any]) -> str:
    return await call.root.user_ids().of(call.citizen.fiscal_code)


@endpoint(
    bp,
    TRANSACTIONS,
    "POST",
    auth="citizen",
    body=NewTransactionIn,
    returns=TransactionOut,
    status=201,
    errors=(404, 409, 410, 502, 504),
    max_body=4096,
    tags=("payments",),
    summary="Start paying a notice (its codes, or the QR code or data matrix scanned): the "
    "notice is verified and locked; the answer shows amount, fee, EC and the token's expiry",
)
async def payments_create(call: Call[NewTransactionIn]) -> TransactionOut:
    created = await call.root.payments().create(
        await _user(call), call.citizen.fiscal_code, call.body, now=call.now
    )
    return TransactionOut.of(created)


@endpoint(
    bp,
    ONE,
    "GET",
    auth="citizen",
    returns=TransactionOut,
    errors=(404,),
    tags=("payments",),
    summary="One of the caller's payment transactions, as it stands",
)
async def payments_get(call: Call[BaseModel]) -> TransactionOut:
    found = await call.root.payments().get(
        await _user(call), call.param("transactionId"), now=call.now
    )
    return TransactionOut.of(found)


@endpoint(
    bp,
    ONE + "/auth-requests",
    "POST",
    auth="citizen",
    body=AuthRequestIn,
    returns=TransactionOut,
    errors=(404, 409, 410),
    max_body=4096,
    tags=("payments",),
    summary="Confirm: pay with one of the caller's wallet instruments (the same "
    "idempotencyKey again answers the same confirmation: a double tap pays once)",
)
async def payments_authorize(call: Call[AuthRequestIn]) -> TransactionOut:
    paid = await call.root.payments().authorize(
        await _user(call), call.param("transactionId"), call.body, now=call.now
    )
    return TransactionOut.of(paid)


@endpoint(
    bp,
    ONE,
    "DELETE",
    auth="citizen",
    returns=TransactionOut,
    errors=(404, 409),
    tags=("payments",),
    summary="Give up a transaction not yet confirmed: the notice is free again at once",
)
async def payments_cancel(call: Call[BaseModel]) -> TransactionOut:
    canceled = await call.root.payments().cancel(
        await _user(call), call.param("transactionId"), now=call.now
    )
    return TransactionOut.of(canceled)


@bp.timer_trigger(arg_name="timer", schedule="%PAYMENTS_RECONCILE_SCHEDULE%")
async def payments_reconcile(timer: func.TimerRequest) -> None:
    """Finish payments a crash or a timeout left in flight, from the gateway's state."""
    root = get_root()
    await root.payments().reconcile(now=root.clock.now())
