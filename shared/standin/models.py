"""The stand-in gateway's contracts: what PSPs and the node send and get (JSON), what operators
see, and what the gateway asks of and reads from an EC's station (sent in SOAP, paForNode:
shared/standin/soapstation.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.notices.models import EC_FISCAL_CODE, MAX_AMOUNT, NAV
from shared.parties.models import PARTY_ID
from shared.platform.values import BoundedDateTime, SafeText

Mode = Literal["NORMAL", "STANDIN"]
CallOutcome = Literal["ok", "timeout", "unreachable", "notActive", "error"]
"""How a forwarded call to a station ended: ``ok`` whenever the EC answered (even a refusal)."""
CALL_OUTCOMES: tuple[CallOutcome, ...] = ("ok", "timeout", "unreachable", "notActive", "error")

IDEMPOTENCY_KEY = r"^[A-Za-z0-9._:-]{1,70}$"
RECEIPT_ID = r"^[A-Za-z0-9._:-]{1,64}$"
PAYMENT_TOKEN = r"^[0-9A-Za-z]{35}$"
"""35 base-62 digits, the most SANP's ``stPaymentToken`` takes: the first 17 name the notice
(:func:`shared.standin.payments.new_token`)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# ----------------------------------------------------------------- the gateway (PSPs, the node)


class NoticeRef(_Strict):
    """A payment notice: its EC and its notice number (the NAV)."""

    pa_fiscal_code: str = Field(
        alias="paFiscalCode", pattern=EC_FISCAL_CODE, description="The EC's fiscal code, 11 digits."
    )
    notice_number: str = Field(
        alias="noticeNumber", pattern=NAV, description="The notice number (NAV), 18 digits."
    )


class ActivateIn(NoticeRef):
    amount: StrictInt = Field(
        ge=1, le=MAX_AMOUNT, description="Euro cents, as the citizen was told by verify."
    )
    idempotency_key: str = Field(
        alias="idempotencyKey",
        pattern=IDEMPOTENCY_KEY,
        description="The same key returns the same live token.",
    )
    psp_id: str = Field(
        alias="pspId",
        pattern=PARTY_ID,
        description="The PSP taking the payment (a PSP caller: itself).",
    )


class OutcomePayer(_Strict):
    """The payer a PSP names in its outcome (pagoPA's ``ctSubject``)."""

    fiscal_code: SafeText = Field(
        alias="fiscalCode", min_length=2, max_length=16, description="Its unique identifier."
    )
    full_name: SafeText | None = Field(default=None, alias="fullName", max_length=70)


class OutcomeIn(_Strict):
    payment_token: str = Field(alias="paymentToken", pattern=PAYMENT_TOKEN)
    outcome: Literal["OK", "KO"]
    psp_id: str = Field(alias="pspId", pattern=PARTY_ID)
    receipt_id: str = Field(
        alias="receiptId",
        pattern=RECEIPT_ID,
        description="The PSP's receipt id: outcomes are idempotent by it.",
    )
    payment_date_time: BoundedDateTime = Field(
        alias="paymentDateTime", description="ISO 8601 with its offset; year 2000-2099."
    )
    payment_method: str = Field(
        alias="paymentMethod",
        min_length=1,
        max_length=35,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="e.g. CP (card), BBT (bank transfer), PPAL.",
    )
    fee: StrictInt = Field(ge=0, le=MAX_AMOUNT, description="The PSP's fee, euro cents.")
    payer: OutcomePayer | None = Field(
        default=None,
        description="Who paid, when the PSP knows (the node's sendPaymentOutcomeV2 details.payer).",
    )


class NoticeAnswer(_Out):
    """A payable notice, as verify answers it."""

    pa_fiscal_code: str = Field(alias="paFiscalCode")
    notice_number: str = Field(alias="noticeNumber")
    amount: int = Field(description="Euro cents.")
    due_date: datetime = Field(alias="dueDate")
    description: str
    company_name: str = Field(alias="companyName", description="The EC's name.")
    status: str = Field(description="VALID: payable (refusals are problems with a code).")
    stand_in: bool = Field(alias="standIn", description="True when answered from the archive.")


class Activation(NoticeAnswer):
    payment_token: str = Field(alias="paymentToken")
    expires_at: datetime = Field(
        alias="expiresAt", description="Until then no other activation is accepted."
    )
    idempotency_key: str = Field(alias="idempotencyKey")
    psp_id: str = Field(alias="pspId")


class OutcomeOut(_Out):
    receipt_id: str = Field(alias="receiptId")
    payment_token: str = Field(alias="paymentToken")
    outcome: Literal["OK", "KO"]
    status: Literal["PAID", "RELEASED"] = Field(
        description="PAID: the notice is paid and its receipt is queued for the EC; "
        "RELEASED: the token is freed and the notice can be paid again."
    )
    pa_fiscal_code: str = Field(alias="paFiscalCode")
    notice_number: str = Field(alias="noticeNumber")
    stand_in: bool = Field(alias="standIn", description="The mode that served the activation.")


# ------------------------------------------------------- the EC-facing protocol (station calls)


class EcVerifyRequest(NoticeRef):
    """What paVerifyPaymentNotice asks a station."""


class EcNotice(_Out):
    """An EC's answer to verify and activate when the notice is payable."""

    outcome: Literal["OK"]
    pa_fiscal_code: str = Field(alias="paFiscalCode", pattern=EC_FISCAL_CODE)
    notice_number: str = Field(alias="noticeNumber", pattern=NAV)
    amount: StrictInt = Field(ge=0, le=MAX_AMOUNT)
    due_date: BoundedDateTime = Field(alias="dueDate")
    description: SafeText = Field(min_length=1, max_length=255)
    company_name: SafeText = Field(alias="companyName", min_length=1, max_length=255)
    status: SafeText = Field(default="VALID", min_length=1, max_length=35)


class EcActivateRequest(NoticeRef):
    """What paGetPaymentV2 asks a station once the gateway has locked the notice."""

    amount: int
    payment_token: str = Field(alias="paymentToken")
    idempotency_key: str = Field(alias="idempotencyKey")
    psp_id: str = Field(alias="pspId")
    expires_at: datetime = Field(alias="expiresAt")


RECEIPT_DUPLICATE = "PAA_RECEIPT_DUPLICATA"

# ------------------------------------------------------------------------------- operators


class SlotFigures(_Out):
    start: datetime
    total: int
    faults: int
    fault_rate: float = Field(alias="faultRate")
    by_outcome: dict[str, int] = Field(alias="byOutcome")


class Evaluation(_Out):
    """The figures behind a station's last entry decision."""

    at: datetime
    window_start: datetime = Field(alias="windowStart")
    night: bool
    slots: list[SlotFigures]
    faulty_slots: int = Field(alias="faultySlots")
    slot_count: int = Field(alias="slotCount")
    traffic: int
    all_traffic: int = Field(alias="allTraffic")
    share: float
    share_threshold: float = Field(alias="shareThreshold")
    enter: bool
    reason: str


class Probe(_Out):
    at: datetime
    ok: bool
    detail: str = ""


class HistoryEntry(_Out):
    at: datetime
    event: Literal["entered", "left", "forced", "released"]
    mode: Mode = Field(description="The effective mode after the event.")
    reason: str
    by: str


class Forced(_Out):
    mode: Mode
    reason: str
    by: str
    at: datetime


class Station(_Out):
    station_id: str = Field(alias="stationId")
    mode: Mode = Field(description="The effective mode: the forced one while forced.")
    automatic_mode: Mode = Field(
        alias="automaticMode", description="What the entry and exit rules decided."
    )
    forced: Forced | None = Field(
        default=None, description="An operator's mode, which wins until released."
    )
    since: datetime | None = Field(
        default=None, description="When the automatic mode last changed."
    )
    last_evaluation: Evaluation | None = Field(default=None, alias="lastEvaluation")
    probes: list[Probe] = Field(
        default_factory=list, description="Probes of the last 60 minutes, oldest first."
    )
    history: list[HistoryEntry] = Field(default_factory=list)


class StationList(_Out):
    stations: list[Station]


class ForceIn(_Strict):
    mode: Mode
    reason: SafeText = Field(min_length=1, max_length=500)
