"""The archive's models: what ECs send (the ACA ``paCreatePosition`` body), what is stored and
what is returned.

Statuses of a position (docs/notices.md#status-transitions has the full table)::

    (absent) ──amount>0──> VALID ──amount=0──> INVALID ──amount>0──> VALID
                             │ └──payment──> PAID (final)
                             └──timer, past expirationDate with switchToExpired──> EXPIRED
                                              EXPIRED ──amount>0──> VALID, ──amount=0──> INVALID

A VALID position past its ``expirationDate`` with ``switchToExpired`` reads as EXPIRED even
before the timer stores it, so the stand-in never sees a stale VALID.

A position is named by its EC and its ``nav``; who may write it is decided on segregation
codes. With aux digit 3 the nav is ``"3" + iuv`` and the code is the IUV's first two digits, so
the nav and the IUV must agree on it (:meth:`PositionIn._nav`): otherwise a party
allowed one code could name, through the nav, a notice of another. Every date is a
:data:`~shared.platform.values.BoundedDateTime` (years 2000-2099, in UTC as stored) and every
free text :data:`~shared.platform.values.SafeText`, so what is accepted is always stored in a
form that reads back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from shared.parties.models import PARTY_ID, valid_iban
from shared.platform.pan import NoPanText
from shared.platform.values import MAX_YEAR, MIN_YEAR, BoundedDateTime, SafeText

Status = Literal["VALID", "INVALID", "EXPIRED", "PAID"]
Action = Literal["created", "updated", "invalidated", "revalidated", "expired", "paid"]

EC_FISCAL_CODE = r"^[0-9]{11}$"
NAV = r"^[0-9]{18}$"
SEGREGATION_CODE = r"^[0-9]{2}$"
AUX_DIGIT = "3"
"""The only aux digit the archive takes: the one whose notice number carries the IUV, and so
its segregation code."""
MAX_AMOUNT = 99_999_999_999
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_POSITIONS = 50_000
HISTORY_LENGTH = 20
"""Changes kept on a position (the newest ones)."""


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC, as the archive stores it.

    Raises:
        ValueError: it has no offset, or its year in UTC is outside 2000-2099 (what the stored
            models read back: a date outside would make a notice nobody can read).
    """
    if moment.utcoffset() is None:
        raise ValueError("a date-time needs its timezone offset")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"the year in UTC must be between {MIN_YEAR} and {MAX_YEAR}")
    return utc


@lru_cache(maxsize=4096)  # a bulk formats its upload's time once per line
def fixed_time(moment: datetime) -> str:
    """UTC, one fixed width, so stored times compare as strings (queries, order keys).

    Raises:
        ValueError: as :func:`in_utc`, before anything is written (the edges refuse such dates
            first, with a 4xx).
    """
    return in_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


StoredTime = Annotated[
    BoundedDateTime, PlainSerializer(fixed_time, return_type=str, when_used="json")
]


def default_nav(iuv: str) -> str:
    """The notice number of an IUV with auxiliary digit 3 (``"3" + iuv``)."""
    return "3" + iuv


def position_id(pa_fiscal_code: str, nav: str) -> str:
    """The id (and partition key) of a position: one logical partition each."""
    return f"{pa_fiscal_code}:{nav}"


def segregation_code(iuv: str) -> str:
    """The segregation code of an IUV: its first two characters."""
    return iuv[:2]


def nav_segregation_code(nav: str) -> str | None:
    """The segregation code a notice number carries (aux digit 3: the two digits after it);
    None when it carries none (another aux digit, or not a notice number)."""
    if len(nav) != 18 or not nav.startswith(AUX_DIGIT):
        return None
    return nav[1:3]


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
    entity_fiscal_code: SafeText = Field(
        alias="entityFiscalCode",
        min_length=2,
        max_length=255,
        description="The debtor's fiscal code or VAT number.",
    )
    entity_full_name: NoPanText = Field(alias="entityFullName", min_length=1, max_length=255)
    iuv: SafeText = Field(
        min_length=1,
        max_length=255,
        description="The EC's unique payment identifier; its first two digits are the "
        "segregation code.",
    )
    amount: StrictInt = Field(
        ge=0, le=MAX_AMOUNT, description="Euro cents; 0 invalidates an existing position."
    )
    description: NoPanText = Field(min_length=1, max_length=255)
    expiration_date: BoundedDateTime = Field(
        alias="expirationDate",
        description="RFC 3339 date-time with an offset, years 2000-2099 (stored and returned "
        "in UTC, where the year must be within those bounds too).",
    )
    nav: str | None = Field(
        default=None,
        validate_default=True,
        description='The 18-digit notice number; default "3" + iuv (which must then make 18 '
        "digits). When given, it is aux digit 3 followed by the IUV's segregation code.",
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
        return in_utc(value)  # 2099-12-31T23:30-01:00 is 2100 in UTC, as it would be stored

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
        # The nav names the position, the IUV's code authorizes the write: they must agree,
        # or a party allowed one code could write (and then read) a notice of another.
        iuv = info.data.get("iuv")
        if iuv is None:  # the iuv failed: that error says it all
            return value
        code = nav_segregation_code(value)
        if code is None:
            raise ValueError(
                f"must start with the aux digit {AUX_DIGIT}, the notice number that carries the "
                "IUV's segregation code"
            )
        if code != segregation_code(iuv):
            raise ValueError(
                f"carries the segregation code {code} and the iuv {segregation_code(iuv)!r}: "
                "they must be the same"
            )
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
    """The queue message of one batch of a bulk upload: a byte range of the stored upload.

    Read from a queue, so bounded like a request: a message out of these bounds is permanent
    failed work, never arithmetic on a date or a number nobody sent."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    bulk_id: str = Field(alias="bulkId", pattern=r"^[0-9a-f]{32}$")
    chunk: StrictInt = Field(ge=0, le=MAX_POSITIONS)
    blob: SafeText = Field(min_length=1, max_length=1024)  # Blob storage's limit on a name
    offset: StrictInt = Field(ge=0, le=MAX_UPLOAD_BYTES)
    length: StrictInt = Field(ge=0, le=MAX_UPLOAD_BYTES)
    first_line: StrictInt = Field(alias="firstLine", ge=1, le=MAX_UPLOAD_BYTES + 1)
    received_at: BoundedDateTime = Field(alias="receivedAt")
    party_id: str = Field(alias="partyId", pattern=PARTY_ID)
    segregation_codes: list[Annotated[str, Field(pattern=SEGREGATION_CODE)]] | None = Field(
        default=None, alias="segregationCodes", max_length=100
    )
