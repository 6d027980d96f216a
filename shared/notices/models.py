"""The archive's models: what ECs send (the ACA ``paCreatePosition`` body), what is stored and
what is returned.

Statuses of a position (docs/notices.md#status-transitions has the full table)::

    (absent) ──amount>0──> VALID ──amount=0──> INVALID ──amount>0──> VALID
                             │ └──payment──> PAID (final)
                             └──timer, past expirationDate with switchToExpired──> EXPIRED
                                              EXPIRED ──amount>0──> VALID, ──amount=0──> INVALID

A VALID position past its ``expirationDate`` with ``switchToExpired`` reads as EXPIRED even
before the timer stores it, so the stand-in never sees a stale VALID.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from shared.parties.models import valid_iban
from shared.platform.values import BoundedDateTime

Status = Literal["VALID", "INVALID", "EXPIRED", "PAID"]
Action = Literal["created", "updated", "invalidated", "revalidated", "expired", "paid"]

EC_FISCAL_CODE = r"^[0-9]{11}$"
NAV = r"^[0-9]{18}$"
SEGREGATION_CODE = r"^[0-9]{2}$"
MAX_AMOUNT = 99_999_999_999
HISTORY_LENGTH = 20
"""Changes kept on a position (the newest ones)."""


@lru_cache(maxsize=4096)  # a bulk formats its upload's time once per line
def fixed_time(moment: datetime) -> str:
    """UTC, one fixed width, so stored times compare as strings (queries, order keys)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


StoredTime = Annotated[datetime, PlainSerializer(fixed_time, return_type=str, when_used="json")]


def default_nav(iuv: str) -> str:
    """The notice number of an IUV with auxiliary digit 3 (``"3" + iuv``)."""
    return "3" + iuv


def position_id(pa_fiscal_code: str, nav: str) -> str:
    """The id (and partition key) of a position: one logical partition each."""
    return f"{pa_fiscal_code}:{nav}"


def segregation_code(iuv: str) -> str:
    """The segregation code of an IUV: its first two characters."""
    return iuv[:2]


# ------------------------------------------------------------------ what ECs send
class PositionIn(BaseModel):
    """The ACA ``paCreatePosition`` body (one line of a bulk upload too)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pa_fiscal_code: str = Field(
        alias="paFiscalCode", pattern=EC_FISCAL_CODE, description="The EC's fiscal code: 11 digits."
    )
    entity_type: Literal["F", "G"] = Field(
        alias="entityType", description="The debtor: F natural person, G legal person."
    )
    entity_fiscal_code: str = Field(
        alias="entityFiscalCode",
        min_length=2,
        max_length=255,
        description="The debtor's fiscal code or VAT number.",
    )
    entity_full_name: str = Field(alias="entityFullName", min_length=1, max_length=255)
    iuv: str = Field(
        min_length=1, max_length=255, description="The EC's unique payment identifier."
    )
    amount: StrictInt = Field(
        ge=0, le=MAX_AMOUNT, description="Euro cents; 0 invalidates an existing position."
    )
    description: str = Field(min_length=1, max_length=255)
    expiration_date: AwareDatetime = Field(
        alias="expirationDate",
        strict=True,
        description="RFC 3339 date-time with an offset (stored and returned in UTC).",
    )
    nav: str | None = Field(
        default=None,
        validate_default=True,
        description='The 18-digit notice number; default "3" + iuv (which must then make 18 '
        "digits).",
    )
    iban: str | None = Field(
        default=None,
        description="27 characters, a valid IBAN; default: the EC's default IBAN in the registry.",
    )
    postal_iban: str | None = Field(
        default=None, alias="postalIban", description="27 characters, a valid IBAN."
    )
    switch_to_expired: StrictBool = Field(
        default=False,
        alias="switchToExpired",
        description="At expirationDate the notice becomes EXPIRED instead of staying payable.",
    )
    pay_stand_in: StrictBool = Field(
        default=True, alias="payStandIn", description="Whether it may be paid in stand-in."
    )

    @field_validator("expiration_date")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of the supported range of dates") from None

    @field_validator("nav")
    @classmethod
    def _nav(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            iuv = info.data.get("iuv")
            if iuv is None:  # the iuv itself failed: that error says it all
                return None
            value = default_nav(iuv)
            if not _digits(value, 18):
                raise ValueError('is required when "3" + iuv is not an 18-digit notice number')
            return value
        if not _digits(value, 18):
            raise ValueError("must be exactly 18 digits")
        return value

    @field_validator("iban", "postal_iban")
    @classmethod
    def _iban(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) != 27:
            raise ValueError("must be exactly 27 characters")
        if not valid_iban(value):
            raise ValueError("is not a valid IBAN (format or check digits)")
        return value

    @property
    def the_nav(self) -> str:
        assert self.nav is not None  # the validator always sets it
        return self.nav


def _digits(value: str, length: int) -> bool:
    return len(value) == length and all("0" <= c <= "9" for c in value)


# ------------------------------------------------------------------ stored and returned
class Change(BaseModel):
    """One entry of a position's history: who, when, what."""

    model_config = ConfigDict(populate_by_name=True)

    at: StoredTime = Field(description="When the change was made.")
    by: str = Field(description="The party (or 'archive' for the expiry timer).")
    action: Action
    status: Status = Field(description="The status after the change.")
    fields: list[str] = Field(default_factory=list, description="The fields it changed.")
    source: str | None = Field(default=None, description="'api', or the bulk and its line.")
    receipt_id: str | None = Field(default=None, alias="receiptId")


class Position(BaseModel):
    """A position as stored and returned: the ACA fields plus ``companyName`` and ``status``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    pa_fiscal_code: str = Field(alias="paFiscalCode")
    company_name: str = Field(alias="companyName")
    entity_type: Literal["F", "G"] = Field(alias="entityType")
    entity_fiscal_code: str = Field(alias="entityFiscalCode")
    entity_full_name: str = Field(alias="entityFullName")
    iuv: str
    nav: str
    amount: int
    description: str
    expiration_date: StoredTime = Field(alias="expirationDate")
    iban: str | None = None
    postal_iban: str | None = Field(default=None, alias="postalIban")
    switch_to_expired: bool = Field(alias="switchToExpired")
    pay_stand_in: bool = Field(alias="payStandIn")
    status: Status
    receipt_id: str | None = Field(default=None, alias="receiptId")
    paid_at: StoredTime | None = Field(default=None, alias="paidAt")
    updated_at: StoredTime = Field(alias="updatedAt")
    history: list[Change] = Field(
        default_factory=list, description=f"The last {HISTORY_LENGTH} changes, oldest first."
    )


CONTENT_FIELDS = (
    "paFiscalCode",
    "companyName",
    "entityType",
    "entityFiscalCode",
    "entityFullName",
    "iuv",
    "nav",
    "amount",
    "description",
    "expirationDate",
    "iban",
    "postalIban",
    "switchToExpired",
    "payStandIn",
)
"""What an EC's write sets: equal content means the write changes nothing."""


def content_of(write: PositionIn, *, company_name: str, default_iban: str | None) -> dict[str, Any]:
    """The stored content a write asks for (JSON form, aliases)."""
    return {
        "paFiscalCode": write.pa_fiscal_code,
        "companyName": company_name,
        "entityType": write.entity_type,
        "entityFiscalCode": write.entity_fiscal_code,
        "entityFullName": write.entity_full_name,
        "iuv": write.iuv,
        "nav": write.the_nav,
        "amount": write.amount,
        "description": write.description,
        "expirationDate": fixed_time(write.expiration_date),
        "iban": write.iban if write.iban is not None else default_iban,
        "postalIban": write.postal_iban,
        "switchToExpired": write.switch_to_expired,
        "payStandIn": write.pay_stand_in,
    }


# ------------------------------------------------------------------ bulk uploads
class BulkAccepted(BaseModel):
    """202 to a bulk upload: the id to follow it by."""

    model_config = ConfigDict(populate_by_name=True)

    bulk_id: str = Field(alias="bulkId")
    accepted: int = Field(description="Positions (non-blank lines) in the upload.")
    chunks: int = Field(description="Batches the work was split into.")
    received_at: StoredTime = Field(alias="receivedAt")
    report: str = Field(description="Where to read the report (GET).")


class RejectedLine(BaseModel):
    line: int = Field(description="1-based: the NDJSON line, or the JSON array's element.")
    reason: str


class BulkReport(BaseModel):
    """Where a bulk upload stands."""

    model_config = ConfigDict(populate_by_name=True)

    bulk_id: str = Field(alias="bulkId")
    party_id: str = Field(alias="partyId")
    status: Literal["PROCESSING", "COMPLETED"]
    received_at: StoredTime = Field(alias="receivedAt")
    accepted: int = Field(description="Positions in the upload.")
    written: int = Field(
        description="Positions now in the archive as the line says (or "
        "superseded by a newer write)."
    )
    rejected: int = Field(description="Lines refused; each is in rejectedLines.")
    pending: int = Field(description="Lines not processed yet.")
    chunks: int
    chunks_done: int = Field(alias="chunksDone")
    rejected_lines: list[RejectedLine] = Field(alias="rejectedLines")


class ChunkTask(BaseModel):
    """The queue message of one batch of a bulk upload: a byte range of the stored upload."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    bulk_id: str = Field(alias="bulkId", pattern=r"^[0-9a-f]{32}$")
    # indices and byte positions inside one upload (at most 20 MB): 2**31 is far beyond them
    chunk: StrictInt = Field(ge=0, lt=2**31)
    blob: str = Field(min_length=1)
    offset: StrictInt = Field(ge=0, lt=2**31)
    length: StrictInt = Field(ge=0, lt=2**31)
    first_line: StrictInt = Field(alias="firstLine", ge=1, lt=2**31)
    received_at: BoundedDateTime = Field(alias="receivedAt")
    party_id: str = Field(alias="partyId")
    segregation_codes: list[str] | None = Field(default=None, alias="segregationCodes")
