"""The wallet's models: what citizens and PSPs send, what is stored, what is returned.

Statuses of an instrument::

    CREATED ──> VALIDATION_REQUESTED ──> VALIDATED ──> DELETED | REPLACED
       │                 │                   └──> EXPIRED (computed from the card's expiry)
       └─────────────────┴──> ERROR (KO, CANCELED, or not completed within the session window)

``CREATED``: the PSP session is open and the app has the hosted page's URL.
``VALIDATION_REQUESTED``: the PSP reported the citizen on its page (a ``PENDING`` notification).
``ERROR`` after the session window and ``EXPIRED`` are never stored: they are computed on read
from the clock, so nothing has to sweep them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictInt, field_validator

from shared.platform.pan import NoPanText, PanMaskedText
from shared.platform.values import SafeText

InstrumentType = Literal["CARD", "BANCOMAT", "BPAY", "SATISPAY"]
ApplicationName = Literal["PAGOPA"]
ApplicationStatus = Literal["ENABLED", "DISABLED"]
Status = Literal[
    "CREATED", "VALIDATION_REQUESTED", "VALIDATED", "ERROR", "DELETED", "REPLACED", "EXPIRED"
]
StoredStatus = Literal[
    "CREATED", "VALIDATION_REQUESTED", "VALIDATED", "ERROR", "DELETED", "REPLACED"
]
Outcome = Literal["OK", "KO", "CANCELED", "PENDING"]

APPLICATIONS: tuple[ApplicationName, ...] = ("PAGOPA",)
PENDING_STATUSES: tuple[StoredStatus, ...] = ("CREATED", "VALIDATION_REQUESTED")
# "w" + base64url(12-byte nonce, the owner's fiscal code sealed with AES-GCM): see reference.py.
WALLET_ID = r"^w[A-Za-z0-9_-]{59}$"
SLOTS_ID = "slots"
"""The id of the document holding a citizen's live instruments (see slots.py)."""
HPAN = r"^[0-9a-f]{64}$"


def fixed_time(moment: datetime) -> str:
    # One fixed width, so stored times compare as strings in queries.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


StoredTime = Annotated[datetime, PlainSerializer(fixed_time, return_type=str, when_used="json")]


# ------------------------------------------------------------------ citizens' requests
class NewInstrument(BaseModel):
    """A citizen asks to onboard an instrument: the answer is the PSP page to open."""

    model_config = ConfigDict(extra="forbid")

    type: InstrumentType
    applications: list[ApplicationName] = Field(
        default_factory=lambda: list(APPLICATIONS),
        max_length=len(APPLICATIONS),
        description="The wallet's own services to enable (cashback is not one of them).",
    )


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


# ------------------------------------------------------------------ the PSP's notification
class PspNotification(BaseModel):
    """The PSP's outcome of an onboarding session (signed; see docs/wallet.md#psp-signatures).

    ``details`` depends on the outcome and the instrument type: see :data:`DETAILS_IN`.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    wallet_id: SafeText = Field(alias="walletId", max_length=64)
    session_id: SafeText = Field(alias="sessionId", min_length=1, max_length=128)
    outcome: Outcome
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="OK: the instrument's details (cards: brand, last4, expiryMonth, "
        "expiryYear, hpan, contractId); otherwise an optional reason.",
    )


class _DetailsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    hpan: str = Field(pattern=HPAN, description="SHA-256 hex of PAN + the platform salt")
    contract_id: NoPanText = Field(alias="contractId", min_length=1, max_length=128)


class CardDetailsIn(_DetailsIn):
    brand: NoPanText = Field(min_length=1, max_length=32)
    last4: str = Field(pattern=r"^[0-9]{4}$")
    expiry_month: StrictInt = Field(alias="expiryMonth", ge=1, le=12)
    expiry_year: StrictInt = Field(alias="expiryYear", ge=2000, le=2099)


class BancomatDetailsIn(CardDetailsIn):
    abi: str = Field(pattern=r"^[0-9]{5}$", description="The issuing bank's ABI code")


class BpayDetailsIn(_DetailsIn):
    bank_name: NoPanText = Field(alias="bankName", min_length=1, max_length=100)
    masked_phone: str = Field(alias="maskedPhone", pattern=r"^\+?[0-9 ]{0,6}\*{3,}[0-9]{2,4}$")


class SatispayDetailsIn(_DetailsIn):
    masked_phone: str = Field(alias="maskedPhone", pattern=r"^\+?[0-9 ]{0,6}\*{3,}[0-9]{2,4}$")


class FailureDetailsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Shown to the citizen and stored: a card number a PSP wrote in it is masked (refusing
    # would lose the outcome).
    reason: PanMaskedText | None = Field(default=None, max_length=200)


DETAILS_IN: dict[InstrumentType, type[_DetailsIn]] = {
    "CARD": CardDetailsIn,
    "BANCOMAT": BancomatDetailsIn,
    "BPAY": BpayDetailsIn,
    "SATISPAY": SatispayDetailsIn,
}


class NotificationAck(BaseModel):
    """The answer to a notification: the same for an identical re-notification."""

    model_config = ConfigDict(populate_by_name=True)

    wallet_id: str = Field(alias="walletId")
    session_id: str = Field(alias="sessionId")
    outcome: Outcome


# ------------------------------------------------------------------ stored
class SeenSignature(BaseModel):
    """A PSP signature already accepted: refused again until ``until`` (then it is stale)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(description="SHA-256 hex of the signature id, shortened")
    until: StoredTime


class StoredInstrument(BaseModel):
    """An instrument as stored: one document in the citizen's partition (``pk``)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    pk: str = Field(description="fiscal_code_hash of the owner")
    kind: Literal["instrument"] = "instrument"
    fiscal_code: str = Field(alias="fiscalCode")
    type: InstrumentType
    status: StoredStatus
    applications: dict[ApplicationName, ApplicationStatus]
    psp_id: str = Field(alias="pspId")
    session_id: str = Field(alias="sessionId")
    created_at: StoredTime = Field(alias="createdAt")
    updated_at: StoredTime = Field(alias="updatedAt")
    validated_at: StoredTime | None = Field(default=None, alias="validatedAt")
    hpan: str | None = None
    contract_id: str | None = Field(default=None, alias="contractId")
    details: dict[str, Any] | None = None
    error_reason: str | None = Field(default=None, alias="errorReason")
    notification: str | None = Field(
        default=None, description="Digest of the outcome notification that was applied"
    )
    replaces: str | None = None
    replaced_by: str | None = Field(default=None, alias="replacedBy")
    ttl: int | None = Field(default=None, description="Seconds; set once nothing needs it")
    signatures: list[SeenSignature] = Field(
        default_factory=list,
        description="PSP signatures accepted for this instrument, kept until they expire "
        "(the replay guard, written with the change the notification makes)",
    )


# ------------------------------------------------------------------ returned
class CardDetails(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    brand: str
    last4: str
    expiry_month: int = Field(alias="expiryMonth")
    expiry_year: int = Field(alias="expiryYear")


class BancomatDetails(CardDetails):
    abi: str


class BpayDetails(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    bank_name: str = Field(alias="bankName")
    masked_phone: str = Field(alias="maskedPhone")


class SatispayDetails(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    masked_phone: str = Field(alias="maskedPhone")


DETAILS_OUT: dict[InstrumentType, type[BaseModel]] = {
    "CARD": CardDetails,
    "BANCOMAT": BancomatDetails,
    "BPAY": BpayDetails,
    "SATISPAY": SatispayDetails,
}


class Application(BaseModel):
    name: ApplicationName
    status: ApplicationStatus


class Instrument(BaseModel):
    """An instrument as the citizen sees it (never its hpan)."""

    model_config = ConfigDict(populate_by_name=True)

    wallet_id: str = Field(alias="walletId")
    type: InstrumentType
    status: Status
    applications: list[Application]
    details: CardDetails | BancomatDetails | BpayDetails | SatispayDetails | None = None
    error_reason: str | None = Field(default=None, alias="errorReason")
    replaced_by: str | None = Field(default=None, alias="replacedBy")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class InstrumentList(BaseModel):
    instruments: list[Instrument]


class OnboardingStarted(BaseModel):
    """A new onboarding session: the app opens ``redirectUrl`` (the PSP's hosted page)."""

    model_config = ConfigDict(populate_by_name=True)

    wallet_id: str = Field(alias="walletId")
    status: Status
    redirect_url: str = Field(alias="redirectUrl")
