"""The wallet's models: what citizens and the payment gateway send, what is stored, returned.

Onboarding follows pagoPA's wallet (pagopa/pagopa-wallet-service: ``api-spec/wallet-api.yaml``,
``services/WalletService.kt``; see docs/wallet.md for each fact's source)::

    CREATED ──session──> INITIALIZED ──validation──> VALIDATION_REQUESTED ──EXECUTED──> VALIDATED
       │                     │                            ├──other results──> ERROR      │
       └─────────────────────┴─── window passed ──────────┴──> VALIDATION_EXPIRED         │
                                                     DELETED <──────┬────────────────────┘
                                                     REPLACED <─────┘ (same card, newer expiry)

``VALIDATION_EXPIRED`` is never stored: it is computed on read from the clock (a session not
finished within the window), so nothing has to sweep it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from shared.platform.pan import NoPanIdentifier, NoPanText
from shared.platform.values import BoundedDateTime, SafeText

InstrumentType = Literal["CARD"]
ApplicationName = Literal["PAGOPA"]
ApplicationStatus = Literal["ENABLED", "DISABLED"]
Status = Literal[
    "CREATED",
    "INITIALIZED",
    "VALIDATION_REQUESTED",
    "VALIDATED",
    "ERROR",
    "DELETED",
    "REPLACED",
    "VALIDATION_EXPIRED",
]
StoredStatus = Literal[
    "CREATED", "INITIALIZED", "VALIDATION_REQUESTED", "VALIDATED", "ERROR", "DELETED", "REPLACED"
]
# The gateway's operation results (pagoPA's WalletNotificationRequest.operationResult).
OperationResult = Literal[
    "AUTHORIZED",
    "EXECUTED",
    "DECLINED",
    "DENIED_BY_RISK",
    "THREEDS_VALIDATED",
    "THREEDS_FAILED",
    "PENDING",
    "CANCELED",
    "VOIDED",
    "REFUNDED",
    "FAILED",
]
ALREADY_ONBOARDED = "WALLET_ALREADY_ONBOARDED_FOR_USER"
"""The error code of a session that onboarded a card the citizen already has (as pagoPA)."""

APPLICATIONS: tuple[ApplicationName, ...] = ("PAGOPA",)
PENDING_STATUSES: tuple[StoredStatus, ...] = ("CREATED", "INITIALIZED", "VALIDATION_REQUESTED")
# "w" + base64url(12-byte nonce, the owner's key sealed with AES-GCM): see reference.py.
WALLET_ID = r"^w[A-Za-z0-9_-]{80}$"
ORDER_ID = r"^[A-Za-z0-9]{18}$"
SLOTS_ID = "slots"
"""The id of the document holding a citizen's live instruments (see slots.py)."""
HPAN = r"^[0-9a-f]{64}$"


def fixed_time(moment: datetime) -> str:
    # One fixed width, so stored times compare as strings in queries.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


StoredTime = Annotated[datetime, PlainSerializer(fixed_time, return_type=str, when_used="json")]


# ------------------------------------------------------------------ citizens' requests
class NewWallet(BaseModel):
    """A citizen creates a wallet for one payment method (from ``GET /payment-methods``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    payment_method_id: str = Field(
        alias="paymentMethodId",
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
        r"[0-9a-f]{12}$",
    )
    applications: list[ApplicationName] = Field(
        default_factory=lambda: list(APPLICATIONS),
        max_length=len(APPLICATIONS),
        description="The wallet's own services to enable (cashback is not one of them).",
    )


class NewSession(BaseModel):
    """Open the gateway's session for a created wallet."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    payment_method_type: Literal["cards"] = Field(default="cards", alias="paymentMethodType")


class ApplicationSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ApplicationName
    status: ApplicationStatus


class ApplicationsUpdate(BaseModel):
    """Enable or disable the wallet's services on one instrument."""

    model_config = ConfigDict(extra="forbid")

    applications: list[ApplicationSetting] = Field(min_length=1, max_length=len(APPLICATIONS))

    @field_validator("applications")
    @classmethod
    def _once_each(cls, value: list[ApplicationSetting]) -> list[ApplicationSetting]:
        if len({a.name for a in value}) != len(value):
            raise ValueError("each application may appear once")
        return value


# ------------------------------------------------------------------ the gateway's notification
class NotificationCardDetails(BaseModel):
    """The card's details in a gateway notification (pagoPA's
    ``WalletNotificationRequestCardDetails``), plus the ``hpan`` our gateway simulator adds
    (the real gateway does not send it: docs/wallet.md#hpan)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["CARD"]
    payment_instrument_gateway_id: NoPanIdentifier = Field(
        alias="paymentInstrumentGatewayId", min_length=1, max_length=128
    )
    hpan: str | None = Field(default=None, pattern=HPAN)


class GatewayNotification(BaseModel):
    """The gateway's outcome of an onboarding session (pagoPA's ``WalletNotificationRequest``).

    Parsed as the published contract says: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    timestamp_operation: BoundedDateTime = Field(alias="timestampOperation")
    operation_id: SafeText = Field(alias="operationId", min_length=1, max_length=128)
    operation_result: OperationResult = Field(alias="operationResult")
    error_code: NoPanText | None = Field(default=None, alias="errorCode", max_length=64)
    details: NotificationCardDetails | None = None


class NotificationAck(BaseModel):
    """The answer to a notification: the same for a repeated operation."""

    model_config = ConfigDict(populate_by_name=True)

    wallet_id: str = Field(alias="walletId")
    order_id: str = Field(alias="orderId")
    operation_id: str = Field(alias="operationId")
    status: Status


# ------------------------------------------------------------------ stored
class StoredInstrument(BaseModel):
    """An instrument as stored: one document in the owner's partition (``pk``)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    pk: str = Field(description="the owner's user id (shared/auth/user_ids.py)")
    kind: Literal["instrument"] = "instrument"
    payment_method_id: str = Field(alias="paymentMethodId")
    type: InstrumentType = "CARD"
    status: StoredStatus
    applications: dict[ApplicationName, ApplicationStatus]
    psp_id: str = Field(alias="pspId")
    created_at: StoredTime = Field(alias="createdAt")
    updated_at: StoredTime = Field(alias="updatedAt")
    validated_at: StoredTime | None = Field(default=None, alias="validatedAt")
    order_id: str | None = Field(default=None, alias="orderId")
    session_id: str | None = Field(default=None, alias="sessionId")
    token_hash: str | None = Field(
        default=None, alias="tokenHash", description="SHA-256 hex of the session's bearer token"
    )
    token_until: StoredTime | None = Field(default=None, alias="tokenUntil")
    contract_id: str | None = Field(default=None, alias="contractId")
    details: dict[str, Any] | None = None
    hpan: str | None = None
    gateway_id: str | None = Field(default=None, alias="paymentInstrumentGatewayId")
    operation_id: str | None = Field(default=None, alias="operationId")
    operation_result: str | None = Field(default=None, alias="operationResult")
    error_code: str | None = Field(default=None, alias="errorCode")
    replaces: str | None = None
    replaced_by: str | None = Field(default=None, alias="replacedBy")
    favourite: StoredTime | None = Field(
        default=None, description="When the citizen made it their favourite"
    )
    last_usage: StoredTime | None = Field(default=None, alias="lastUsage")
    ttl: int | None = Field(default=None, description="Seconds; set once nothing needs it")


# ------------------------------------------------------------------ returned
class CardDetails(BaseModel):
    """A card as the gateway described it (pagoPA's ``WalletCardDetails``): never its number."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["CARDS"] = "CARDS"
    bin: str = Field(pattern=r"^[0-9]{6,8}$")
    last_four_digits: str = Field(alias="lastFourDigits", pattern=r"^[0-9]{4}$")
    expiry_date: str = Field(alias="expiryDate", pattern=r"^[0-9]{6}$", description="YYYYMM")
    brand: str


class Application(BaseModel):
    name: ApplicationName
    status: ApplicationStatus


class Instrument(BaseModel):
    """An instrument as the citizen sees it (never its hpan)."""

    model_config = ConfigDict(populate_by_name=True)

    wallet_id: str = Field(alias="walletId")
    payment_method_id: str = Field(alias="paymentMethodId")
    type: InstrumentType
    status: Status
    applications: list[Application]
    details: CardDetails | None = None
    error_code: str | None = Field(default=None, alias="errorCode")
    replaced_by: str | None = Field(default=None, alias="replacedBy")
    favourite: bool = False
    last_usage: datetime | None = Field(default=None, alias="lastUsage")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class HeldInstrument(BaseModel):
    """What another capability's service learns of a citizen's instrument (cashback: to enable
    it): its status, and its hpan, never its card number."""

    wallet_id: str
    status: Status
    type: InstrumentType
    hpan: str | None
    brand: str | None
    updated_at: datetime


class AuthCardData(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    payment_method_type: Literal["cards"] = Field(default="cards", alias="paymentMethodType")
    bin: str


class AuthData(BaseModel):
    """What a payment needs of an instrument (pagoPA's ``WalletAuthData``): never its number."""

    model_config = ConfigDict(populate_by_name=True)

    wallet_id: str = Field(alias="walletId")
    contract_id: str = Field(alias="contractId", description="The gateway's recurring contract")
    brand: str
    payment_method_data: AuthCardData = Field(alias="paymentMethodData")


class PartialUpdate(BaseModel):
    """The applications updated and those that could not be (pagoPA's
    ``WalletApplicationsPartialUpdate``), with the instrument as it is now."""

    model_config = ConfigDict(populate_by_name=True)

    instrument: Instrument
    updated_applications: list[Application] = Field(alias="updatedApplications")
    failed_applications: list[Application] = Field(alias="failedApplications")


class InstrumentList(BaseModel):
    instruments: list[Instrument]


class WalletCreated(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    wallet_id: str = Field(alias="walletId")
    status: Status


class SessionData(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    payment_method_type: Literal["cards"] = Field(default="cards", alias="paymentMethodType")
    redirect_url: str = Field(
        alias="redirectUrl", description="The gateway's hosted page where the card is typed"
    )


class SessionOpened(BaseModel):
    """What the app needs to show the gateway's page (pagoPA's SessionWalletCreateResponse)."""

    model_config = ConfigDict(populate_by_name=True)

    order_id: str = Field(alias="orderId")
    session_data: SessionData = Field(alias="sessionData")


class ValidationDetails(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    type: Literal["CARD"] = "CARD"
    iframe_url: str = Field(alias="iframeUrl", description="The gateway's 3-D Secure page")


class ValidationRequested(BaseModel):
    """The card is read; the citizen now proves it is theirs (3-D Secure) on ``iframeUrl``."""

    model_config = ConfigDict(populate_by_name=True)

    order_id: str = Field(alias="orderId")
    details: ValidationDetails
