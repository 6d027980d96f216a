"""The wallet's HTTP triggers: citizens' instruments and the PSP's notifications."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, endpoint
from shared.auth.signature import HEADER as SIGNATURE_HEADER
from shared.wallet.models import (
    ApplicationsUpdate,
    Instrument,
    InstrumentList,
    NewInstrument,
    NotificationAck,
    OnboardingStarted,
    PspNotification,
)

bp = func.Blueprint()

INSTRUMENTS = "v1/wallet/instruments"
NOTIFICATIONS = "v1/wallet/psp/notifications"


@endpoint(
    bp,
    INSTRUMENTS,
    "POST",
    auth="citizen",
    body=NewInstrument,
    returns=OnboardingStarted,
    status=201,
    errors=(409,),
    max_body=4096,
    tags=("wallet",),
    summary="Start onboarding an instrument: the app opens the PSP's hosted page",
)
async def wallet_start_onboarding(call: Call[NewInstrument]) -> OnboardingStarted:
    return await call.root.wallet().start_onboarding(
        call.citizen.fiscal_code, call.body, now=call.now
    )


@endpoint(
    bp,
    INSTRUMENTS,
    "GET",
    auth="citizen",
    returns=InstrumentList,
    tags=("wallet",),
    summary="The caller's instruments and onboarding sessions in progress",
)
async def wallet_list_instruments(call: Call[BaseModel]) -> InstrumentList:
    return await call.root.wallet().instruments(call.citizen.fiscal_code, now=call.now)


@endpoint(
    bp,
    INSTRUMENTS + "/{walletId}",
    "GET",
    auth="citizen",
    returns=Instrument,
    errors=(404,),
    tags=("wallet",),
    summary="One of the caller's instruments",
)
async def wallet_get_instrument(call: Call[BaseModel]) -> Instrument:
    return await call.root.wallet().get(
        call.citizen.fiscal_code, call.param("walletId"), now=call.now
    )


@endpoint(
    bp,
    INSTRUMENTS + "/{walletId}",
    "DELETE",
    auth="citizen",
    status=204,
    errors=(404, 409),
    tags=("wallet",),
    summary="Delete one of the caller's instruments (again: 204 too)",
)
async def wallet_delete_instrument(call: Call[BaseModel]) -> None:
    await call.root.wallet().delete(call.citizen.fiscal_code, call.param("walletId"), now=call.now)


@endpoint(
    bp,
    INSTRUMENTS + "/{walletId}/applications",
    "PUT",
    auth="citizen",
    body=ApplicationsUpdate,
    returns=Instrument,
    errors=(404, 409),
    max_body=4096,
    tags=("wallet",),
    summary="Enable or disable the wallet's services on an instrument",
)
async def wallet_set_applications(call: Call[ApplicationsUpdate]) -> Instrument:
    return await call.root.wallet().set_applications(
        call.citizen.fiscal_code, call.param("walletId"), call.body, now=call.now
    )


@endpoint(
    bp,
    NOTIFICATIONS,
    "POST",
    auth="psp",
    body=PspNotification,
    returns=NotificationAck,
    errors=(401, 404, 409),
    max_body=16 * 1024,
    tags=("wallet",),
    summary="A PSP's signed outcome of an onboarding session",
)
async def wallet_psp_notification(call: Call[PspNotification]) -> NotificationAck:
    return await call.root.wallet().notify(
        call.body, raw_body=call.raw_body, signature=call.header(SIGNATURE_HEADER), now=call.now
    )
