"""What the EC simulator reads and writes: the station protocol's bodies and its own notices.

Protocol bodies are checked strictly (an amount given as a string or a boolean is a syntax
error, as it would be for a real station) but unknown fields are ignored, so the gateway can
send more than this simulator looks at. The control API's bodies forbid unknown fields: a typo
there should fail loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

EC_FISCAL_CODE = r"^[0-9]{11}$"
NOTICE_NUMBER = r"^[0-9]{18}$"
MAX_AMOUNT = 99_999_999_999
FaultCode = Literal[
    "PAA_SINTASSI_XSD",
    "PAA_SINTASSI_EXTRAXSD",
    "PAA_PAGAMENTO_SCONOSCIUTO",
    "PAA_PAGAMENTO_DUPLICATO",
    "PAA_PAGAMENTO_SCADUTO",
    "PAA_PAGAMENTO_IN_CORSO",
    "PAA_SEMANTICA",
    "PAA_RECEIPT_DUPLICATA",
]


def iso_utc(moment: datetime) -> str:
    """An aware instant as ISO-8601 in UTC with a ``Z`` (``2030-12-31T23:59:59Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of the supported range of dates") from None


# ------------------------------------------------------------------ the notices an EC holds
@dataclass(frozen=True)
class Notice:
    """A payment notice as the EC knows it (amount in euro cents, due date aware UTC)."""

    pa_fiscal_code: str
    notice_number: str
    amount: int
    due_date: datetime
    description: str
    company_name: str

    @property
    def key(self) -> tuple[str, str]:
        return self.pa_fiscal_code, self.notice_number

    def to_json(self) -> dict[str, Any]:
        """The body of ``PUT /control/notices`` (and the notice part of protocol answers)."""
        return {
            "paFiscalCode": self.pa_fiscal_code,
            "noticeNumber": self.notice_number,
            "amount": self.amount,
            "dueDate": iso_utc(self.due_date),
            "description": self.description,
            "companyName": self.company_name,
        }


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, populate_by_name=True, extra="ignore")


class NoticeIn(_Strict):
    """One notice of ``PUT /control/notices``."""

    model_config = ConfigDict(extra="forbid")

    pa_fiscal_code: str = Field(alias="paFiscalCode", pattern=EC_FISCAL_CODE)
    notice_number: str = Field(alias="noticeNumber", pattern=NOTICE_NUMBER)
    amount: int = Field(gt=0, le=MAX_AMOUNT)
    due_date: AwareDatetime = Field(alias="dueDate")
    description: str = Field(min_length=1, max_length=255)
    company_name: str = Field(alias="companyName", min_length=1, max_length=255)

    _due_in_utc = field_validator("due_date")(_utc)

    def notice(self) -> Notice:
        return Notice(
            self.pa_fiscal_code,
            self.notice_number,
            self.amount,
            self.due_date,
            self.description,
            self.company_name,
        )


# ------------------------------------------------------------------ the station protocol
class VerifyIn(_Strict):
    pa_fiscal_code: str = Field(alias="paFiscalCode", pattern=EC_FISCAL_CODE)
    notice_number: str = Field(alias="noticeNumber", pattern=NOTICE_NUMBER)


class ActivateIn(VerifyIn):
    amount: int = Field(gt=0, le=MAX_AMOUNT)
    payment_token: str = Field(alias="paymentToken", min_length=1, max_length=255)
    idempotency_key: str = Field(alias="idempotencyKey", min_length=1, max_length=255)
    psp_id: str = Field(alias="pspId", min_length=1, max_length=255)
    expires_at: AwareDatetime = Field(alias="expiresAt")

    _expires_in_utc = field_validator("expires_at")(_utc)


class ReceiptIn(VerifyIn):
    receipt_id: str = Field(alias="receiptId", min_length=1, max_length=255)
    payment_token: str = Field(alias="paymentToken", min_length=1, max_length=255)
    amount: int = Field(gt=0, le=MAX_AMOUNT)
    psp_id: str = Field(alias="pspId", min_length=1, max_length=255)
    payment_date_time: AwareDatetime = Field(alias="paymentDateTime")
    payment_method: str = Field(alias="paymentMethod", min_length=1, max_length=255)
    fee: int = Field(ge=0, le=MAX_AMOUNT)
    stand_in: bool = Field(alias="standIn")
    outcome: Literal["OK", "KO"]

    _paid_in_utc = field_validator("payment_date_time")(_utc)


# ------------------------------------------------------------------ the control API
State = Literal["up", "down"]


class BehaviourIn(_Strict):
    """``PUT /control/behaviour``: every field optional; what is absent stays as it is."""

    model_config = ConfigDict(extra="forbid")

    state: State | None = None
    delay_ms: int | None = Field(default=None, alias="delayMs", ge=0, le=600_000)
    timeout_fraction: float | None = Field(default=None, alias="timeoutFraction", ge=0, le=1)
    not_active_fraction: float | None = Field(default=None, alias="notActiveFraction", ge=0, le=1)
    seed: int | None = Field(default=None, description="Restart the random draws from this.")


class ResetIn(_Strict):
    """``POST /control/reset``: ``notices`` also puts the notices back as they were at start."""

    model_config = ConfigDict(extra="forbid")

    notices: bool = False
