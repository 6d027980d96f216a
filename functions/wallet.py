"""The wallet's HTTP triggers: citizens' wallets, onboarding steps, the gateway's notifications."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, Reply, bearer_token, endpoint
from shared.auth.user_ids import is_user_id
from shared.platform.errors import NotFound
from shared.wallet.methods import PaymentMethods, payment_methods
from shared.wallet.models import (
    ApplicationsUpdate,
    AuthData,
    GatewayNotification,
    Instrument,
    InstrumentList,
    NewSession,
    NewWallet,
    NotificationAck,
    PartialUpdate,
    SessionOpened,
    ValidationRequested,
    WalletCreated,
)

bp = func.Blueprint()


async def _user(call: Call[Any]) -> str:
    """The caller's pseudonymous user id: the wallet never sees the fiscal code."""
    return await call.root.user_ids().of(call.citizen.fiscal_code)


WALLETS = "v1/wallets"
ONE = WALLETS + "/{walletId}"
SESSION = ONE + "/sessions/{orderId}"


@endpoint(
    bp,
    "v1/payment-methods",
    "GET",
    auth="citizen",
    returns=PaymentMethods,
    tags=("wallet",),
    summary="The payment methods a wallet can be created for, with their status and ranges",
)
async def wallet_payment_methods(call: Call[BaseModel]) -> PaymentMethods:
    return payment_methods()


@endpoint(
    bp,
    WALLETS,
    "POST",
    auth="citizen",
    body=NewWallet,
    returns=WalletCreated,
    status=201,
    errors=(409,),
    max_body=4096,
    tags=("wallet",),
    summary="Create a wallet for a payment method (onboarding's first step)",
)
async def wallet_create(call: Call[NewWallet]) -> WalletCreated:
    return await call.root.wallet().create(await _user(call), call.body, now=call.now)


@endpoint(
    bp,
    ONE + "/sessions",
    "POST",
    auth="citizen",
    body=NewSession,
    returns=SessionOpened,
    errors=(404, 409),
    max_body=4096,
    tags=("wallet",),
    summary="Open the gateway's session: the page where the citizen types the card",
)
async def wallet_open_session(call: Call[NewSession]) -> SessionOpened:
    return await call.root.wallet().open_session(
        await _user(call), call.param("walletId"), call.body, now=call.now
    )


@endpoint(
    bp,
    SESSION + "/validations",
    "POST",
    auth="citizen",
    returns=ValidationRequested,
    errors=(404, 409),
    tags=("wallet",),
    summary="The card is typed: start its 3-D Secure check (the app opens iframeUrl)",
)
async def wallet_validate(call: Call[BaseModel]) -> ValidationRequested:
    return await call.root.wallet().validate(
        await _user(call), call.param("walletId"), call.param("orderId"), now=call.now
    )


@endpoint(
    bp,
    SESSION + "/notifications",
    "POST",
    auth="psp",
    body=GatewayNotification,
    returns=NotificationAck,
    errors=(401, 409),
    max_body=16 * 1024,
    invalid_status=400,
    tags=("wallet",),
    summary="The payment gateway's outcome of an onboarding session (its session token)",
)
async def wallet_notification(call: Call[GatewayNotification]) -> NotificationAck:
    return await call.root.wallet().notify(
        call.param("walletId"),
        call.param("orderId"),
        call.body,
        token=bearer_token(call),
        now=call.now,
    )


@endpoint(
    bp,
    WALLETS,
    "GET",
    auth="citizen",
    returns=InstrumentList,
    tags=("wallet",),
    summary="The caller's instruments and onboarding sessions in progress, favourite first",
)
async def wallet_list(call: Call[BaseModel]) -> InstrumentList:
    return await call.root.wallet().instruments(await _user(call), now=call.now)


@endpoint(
    bp,
    ONE,
    "GET",
    auth="citizen",
    returns=Instrument,
    errors=(404,),
    tags=("wallet",),
    summary="One of the caller's instruments",
)
async def wallet_get(call: Call[BaseModel]) -> Instrument:
    return await call.root.wallet().get(await _user(call), call.param("walletId"), now=call.now)


@endpoint(
    bp,
    ONE,
    "DELETE",
    auth="citizen",
    status=204,
    errors=(404, 409),
    tags=("wallet",),
    summary="Delete one of the caller's instruments (again: 204 too)",
)
async def wallet_delete(call: Call[BaseModel]) -> None:
    await call.root.wallet().delete(await _user(call), call.param("walletId"), now=call.now)


@endpoint(
    bp,
    ONE + "/applications",
    "PUT",
    auth="citizen",
    body=ApplicationsUpdate,
    returns=PartialUpdate,
    errors=(404, 409),
    max_body=4096,
    tags=("wallet",),
    summary="Enable or disable the wallet's services on an instrument (409 lists what failed)",
)
async def wallet_set_applications(call: Call[ApplicationsUpdate]) -> PartialUpdate | Reply:
    result = await call.root.wallet().set_applications(
        await _user(call), call.param("walletId"), call.body, now=call.now
    )
    return Reply(409, result) if result.failed_applications else result


@endpoint(
    bp,
    ONE + "/favourite",
    "PUT",
    auth="citizen",
    returns=Instrument,
    errors=(404, 409),
    tags=("wallet",),
    summary="Make a validated instrument the caller's favourite (listed first)",
)
async def wallet_set_favourite(call: Call[BaseModel]) -> Instrument:
    return await call.root.wallet().set_favourite(
        await _user(call), call.param("walletId"), now=call.now
    )


@endpoint(
    bp,
    WALLETS,
    "DELETE",
    auth="citizen",
    status=204,
    tags=("wallet",),
    summary="Delete all of the caller's instruments (account closure)",
)
async def wallet_delete_all(call: Call[BaseModel]) -> None:
    await call.root.wallet().delete_all(await _user(call), now=call.now)


@endpoint(
    bp,
    ONE + "/auth-data",
    "GET",
    auth="function",
    returns=AuthData,
    errors=(404, 409),
    tags=("wallet",),
    summary="What a payment needs of an instrument (for the payments capability; no PAN)",
)
async def wallet_auth_data(call: Call[BaseModel]) -> AuthData:
    return await call.root.wallet().auth_data(call.param("walletId"), now=call.now)


@endpoint(
    bp,
    "ops/wallet/users/{userId}/wallets",
    "GET",
    auth="admin",
    returns=InstrumentList,
    errors=(404,),
    tags=("operators",),
    summary="Helpdesk: a user's instruments, whatever their status (by user id)",
)
async def wallet_helpdesk(call: Call[BaseModel]) -> InstrumentList:
    user = call.param("userId")
    if not is_user_id(user):
        raise NotFound("no such user id")
    return await call.root.wallet().helpdesk(user, now=call.now)
