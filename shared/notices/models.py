"""The archive's models: what ECs send (pagoPA's ACA ``paCreatePosition`` body), what is stored
and what is returned (docs/aca-contract.md says where each rule comes from).

Statuses of a position (docs/notices.md#status-transitions has the full table)::

    (absent) ──amount>0──> VALID ──amount=0──> INVALID (final for the EC: 409)
                             │ └──payment──> PAID (final)
                             └──timer, past expirationDate with switchToExpired──> EXPIRED
                                              EXPIRED ──amount>0──> VALID, ──amount=0──> INVALID

A VALID position past its ``expirationDate`` with ``switchToExpired`` reads as EXPIRED even
before the timer stores it, so the stand-in never sees a stale VALID.

A body is checked twice. :class:`PositionIn` is pagoPA's schema exactly (types, lengths, what is
required, the defaults; unknown fields ignored): a body it refuses is a 400. :func:`refusals`
then names what the archive will not take although the schema allows it (a 422): text with a
NUL, a date outside 2000-2099 in UTC, an IBAN whose check digits are wrong, a notice number with
aux digit 3 that is not ``"3" + iuv``. So a body that follows pagoPA's spec is never a 400.

A position is named as pagoPA names it, by its IUPD ``ACA_<paFiscalCode>_<iuv>``
(:func:`iupd`): the same IUV with another nav is the same position. Its nav is set when it is
created and kept (pagoPA's update does not carry it).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    field_validator,
    model_serializer,
)

from shared.parties.models import PARTY_ID, valid_iban
from shared.platform.errors import Invalid
from shared.platform.pan import contains_pan
from shared.platform.values import MAX_YEAR, MIN_YEAR, BoundedDateTime, SafeText, unsafe_character

Status = Literal["VALID", "INVALID", "EXPIRED", "PAID"]
Action = Literal["created", "updated", "invalidated", "revalidated", "expired", "paid"]

EC_FISCAL_CODE = r"^[0-9]{11}$"
"""An EC's fiscal code as the registry and the node write it (the ACA body takes any 11
characters: one that names no registered EC is a 404)."""
NAV = r"^[0-9]{18}$"
"""A notice number the node, a printed notice and its QR code can carry."""
SEGREGATION_CODE = r"^[0-9]{2}$"
AUX_DIGIT = "3"
"""The aux digit whose notice number is ``"3" + iuv``, so it carries the IUV's segregation code."""
MAX_AMOUNT = 99_999_999_999
MAX_TEXT = 255
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_FILE_CONTENT_BYTES = 100 * 1024 * 1024
"""The most an uploaded file may hold unzipped (pagoPA's upload service takes as much)."""
MAX_POSITIONS = 50_000
HISTORY_LENGTH = 20
"""Changes kept on a position (the newest ones)."""
IUPD_PREFIX = "ACA_"
_SAFE_ID = re.compile(r"[A-Za-z0-9_.\-]{1,255}")
_PARTY_ID = re.compile(PARTY_ID)


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


def local_date_time(moment: datetime) -> str:
    """The wall-clock time of ``moment`` without its offset, written as pagoPA's service writes
    its due dates (Java's ``LocalDateTime.toString``: seconds only when not zero, then
    milliseconds or microseconds only when not zero)."""
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
    text += f"{moment.minute:02d}"
    if moment.second == 0 and moment.microsecond == 0:
        return text
    text += f":{moment.second:02d}"
    if moment.microsecond == 0:
        return text
    if moment.microsecond % 1000 == 0:
        return f"{text}.{moment.microsecond // 1000:03d}"
    return f"{text}.{moment.microsecond:06d}"


StoredTime = Annotated[
    BoundedDateTime, PlainSerializer(fixed_time, return_type=str, when_used="json")
]


# ------------------------------------------------------------------ identity
def default_nav(iuv: str) -> str:
    """The notice number of an IUV with aux digit 3 (``"3" + iuv``): pagoPA's default nav."""
    return AUX_DIGIT + iuv


def iupd(pa_fiscal_code: str, iuv: str) -> str:
    """pagoPA's name of an ACA position: ``ACA_<paFiscalCode>_<iuv>``."""
    return f"{IUPD_PREFIX}{pa_fiscal_code}_{iuv}"


def iuv_of_iupd(pa_fiscal_code: str, name: str) -> str | None:
    """The IUV an ACA IUPD of ``pa_fiscal_code`` names; None if it is not one."""
    prefix = f"{IUPD_PREFIX}{pa_fiscal_code}_"
    if not name.startswith(prefix) or len(name) == len(prefix):
        return None
    return name[len(prefix) :]


def _item_id(name: str, hashed_prefix: str) -> str:
    # Cosmos ids are at most 255 characters and may not hold '/', '\\', '?' or '#': a name
    # (an IUV may be any 255 characters) that is not plainly safe is stored under its hash.
    if _SAFE_ID.fullmatch(name):
        return name
    return hashed_prefix + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def position_id(pa_fiscal_code: str, iuv: str) -> str:
    """The id (and partition key) of a position: its IUPD, one logical partition each."""
    return _item_id(iupd(pa_fiscal_code, iuv), "ACA~")


def nav_claim_id(pa_fiscal_code: str, nav: str) -> str:
    """The id of the document that says which position holds a nav that is not ``"3" + iuv``
    (a nav names one notice of an EC, as IUPDs do)."""
    return _item_id(f"NAV_{pa_fiscal_code}_{nav}", "NAV~")


def legacy_position_id(pa_fiscal_code: str, nav: str) -> str:
    """Where positions were kept before they were named by IUPD (re-keyed by
    :meth:`~shared.notices.service.NoticeArchive.rekey`)."""
    return f"{pa_fiscal_code}:{nav}"


def segregation_code(iuv: str) -> str | None:
    """The segregation code of an IUV: its first two characters, when they are two digits."""
    code = iuv[:2]
    return code if len(code) == 2 and _digits(code) else None


def nav_segregation_code(nav: str) -> str | None:
    """The segregation code a notice number carries (aux digit 3: the two digits after it);
    None when it carries none (another aux digit, or no notice number at all)."""
    if not nav.startswith(AUX_DIGIT):
        return None
    code = nav[1:3]
    return code if len(code) == 2 and _digits(code) else None


def is_registry_id(fiscal_code: str) -> bool:
    """Whether ``fiscal_code`` could name a party of the registry at all."""
    return _PARTY_ID.fullmatch(fiscal_code) is not None


def _digits(value: str) -> bool:
    return all("0" <= c <= "9" for c in value)


# ------------------------------------------------------------------ what ECs send
def _not_null(value: Any) -> Any:
    # pagoPA's schema lets these fields be absent, never null
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


def _not_a_number(value: Any) -> Any:
    # pydantic reads a number as seconds since 1970: a date-time must be written out
    if isinstance(value, int | float):
        raise ValueError("a date-time is an RFC 3339 string with its offset, not a number")
    return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
MaybeText = Annotated[str | None, BeforeValidator(_not_null)]


class PositionIn(BaseModel):
    """pagoPA's ``NewDebtPositionRequest`` (one line of a bulk upload too), as its schema says.

    Unknown fields are ignored, as pagoPA's service ignores them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    pa_fiscal_code: str = Field(
        alias="paFiscalCode",
        min_length=11,
        max_length=11,
        description="The EC's fiscal code: 11 characters (a registered EC, else 404).",
    )
    entity_type: Literal["F", "G"] = Field(
        alias="entityType", description="The debtor: F natural person, G legal person."
    )
    entity_fiscal_code: str = Field(
        alias="entityFiscalCode",
        min_length=2,
        description="The debtor's fiscal code or VAT number (no upper bound in pagoPA's spec; "
        "the body's size bounds it).",
    )
    entity_full_name: Text = Field(alias="entityFullName")
    iuv: Text = Field(
        description="The EC's unique payment identifier; its first two digits are the "
        "segregation code."
    )
    amount: StrictInt = Field(
        ge=0, le=MAX_AMOUNT, description="Euro cents; 0 invalidates an existing position."
    )
    description: Text
    expiration_date: Annotated[AwareDatetime, BeforeValidator(_not_a_number)] = Field(
        alias="expirationDate",
        description="RFC 3339 date-time with its offset; the archive takes years 2000-2099 "
        "(in UTC too, as it is stored): others are a 422.",
    )
    nav: MaybeText = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEXT,
        description='The notice number; default "3" + iuv. Only an 18-digit one can be paid '
        "through the node, printed or QR-encoded.",
    )
    iban: MaybeText = Field(
        default=None,
        min_length=27,
        max_length=27,
        description="27 characters (and, in this archive, valid check digits: else 422); "
        "default: the EC's default IBAN in the registry.",
    )
    postal_iban: MaybeText = Field(
        default=None,
        alias="postalIban",
        min_length=27,
        max_length=27,
        description="27 characters (valid check digits: else 422).",
    )
    switch_to_expired: StrictBool = Field(
        default=False,
        alias="switchToExpired",
        description="At expirationDate the notice becomes EXPIRED instead of staying payable.",
    )
    pay_stand_in: StrictBool = Field(
        default=True, alias="payStandIn", description="Whether it may be paid in stand-in."
    )

    @field_validator("switch_to_expired", "pay_stand_in", mode="before")
    @classmethod
    def _bool_not_null(cls, value: Any) -> Any:
        return _not_null(value)

    @classmethod
    def from_json(cls, raw: bytes) -> PositionIn:
        """Parse a body as pagoPA's service does: any JSON object, its unknown members ignored
        whatever they hold (a 5,000-digit number, a lone surrogate, deep nesting).

        Raises:
            Invalid: (422) no body at all: pagoPA's spec leaves the body optional, so a request
                without one follows the spec, and the archive cannot act on it; (400) not a
                JSON object.
            ValidationError: not the schema.
        """
        if not raw.strip():
            raise Invalid("a debt position is required: the request has no body", status=422)
        data = contract_json(raw)
        if not isinstance(data, dict):
            raise Invalid("the body is not a JSON object")
        known = {name: data[name] for name in _ALIASES if name in data}
        return cls.model_validate(known)

    @property
    def the_nav(self) -> str:
        """The nav the body names: its own, or ``"3" + iuv``."""
        return self.nav if self.nav is not None else default_nav(self.iuv)

    @property
    def iupd(self) -> str:
        return iupd(self.pa_fiscal_code, self.iuv)


_ALIASES = tuple(field.alias or name for name, field in PositionIn.model_fields.items())
_OUT_OF_RANGE = float("inf")
"""What an integer too long to be any field's value reads as (no field takes it)."""


def _integer(text: str) -> int | float:
    # past 4,300 digits Python refuses to convert; no field of the contract takes 30 digits
    return int(text) if len(text) <= 30 else _OUT_OF_RANGE


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def contract_json(raw: bytes) -> Any:
    """JSON as a published contract's body: anything JSON allows, unknown members included.

    Raises:
        Invalid: (400) not JSON (bad syntax, bad UTF-8, NaN or Infinity, nesting too deep).
    """
    try:
        return json.loads(raw, parse_int=_integer, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise Invalid(f"the body is not valid JSON: {str(error)[:200]}") from None


_TEXT_FIELDS = (
    ("paFiscalCode", "pa_fiscal_code"),
    ("entityFiscalCode", "entity_fiscal_code"),
    ("entityFullName", "entity_full_name"),
    ("iuv", "iuv"),
    ("description", "description"),
    ("nav", "nav"),
)


_FREE_TEXT = frozenset({"entityFullName", "description"})
"""Free text shown to citizens: never a card number (identifiers are digits by design)."""


def refusals(position: PositionIn) -> list[dict[str, Any]]:
    """What the archive will not take in a body pagoPA's schema allows (each a 422 error, named
    by its field): see docs/aca-contract.md, "Deviations"."""
    errors: list[dict[str, Any]] = []

    def refuse(field: str, kind: str, msg: str) -> None:
        errors.append({"loc": [field], "type": kind, "msg": msg})

    for field, attribute in _TEXT_FIELDS:
        value = getattr(position, attribute)
        reason = value is not None and unsafe_character(value)
        if reason:
            refuse(field, "unsafe_text", f"the text {reason}")
        elif field in _FREE_TEXT and value is not None and contains_pan(value):
            refuse(field, "card_number", "holds what looks like a card number (PAN)")
    moment = position.expiration_date
    try:
        in_utc(moment)
        if not MIN_YEAR <= moment.year <= MAX_YEAR:  # as sent, too: it is answered that way
            raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    except ValueError as error:
        refuse("expirationDate", "date_out_of_range", str(error))
    for field, value in (("iban", position.iban), ("postalIban", position.postal_iban)):
        if value is not None and not valid_iban(value):
            refuse(field, "iban", "is not a valid IBAN (format or check digits)")
    nav = position.nav
    if nav is not None and nav.startswith(AUX_DIGIT) and nav != default_nav(position.iuv):
        # aux digit 3 means "3" + IUV: another IUV's notice number would name, and let a party
        # reach, a notice of another segregation code
        refuse(
            "nav",
            "nav_not_of_iuv",
            f'a notice number with aux digit {AUX_DIGIT} is "{AUX_DIGIT}" followed by its iuv',
        )
    return errors


def accept(position: PositionIn) -> PositionIn:
    """``position`` if the archive takes it; Invalid (422) naming each refused field."""
    errors = refusals(position)
    if errors:
        raise Invalid(
            "the archive cannot take this position: "
            + "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in errors),
            status=422,
            errors=errors,
        )
    return position


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
    """A position as stored and returned by the archive's own routes: the ACA fields plus its
    IUPD, ``companyName``, ``status``, payment and history."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    iupd: str | None = Field(default=None, description="ACA_<paFiscalCode>_<iuv>.")
    pa_fiscal_code: str = Field(alias="paFiscalCode")
    company_name: str = Field(alias="companyName")
    entity_type: Literal["F", "G"] = Field(alias="entityType")
    entity_fiscal_code: str = Field(alias="entityFiscalCode")
    entity_full_name: str = Field(alias="entityFullName")
    iuv: str
    nav: str
    amount: int
    description: str
    expiration_date: StoredTime = Field(alias="expirationDate", description="In UTC.")
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


class DebtPositionResponse(BaseModel):
    """pagoPA's ``DebtPositionResponse``: the answer to ``paCreatePosition``.

    Every field is a string, integer or boolean as pagoPA's schema says, so a field with no
    value is left out rather than written as null."""

    model_config = ConfigDict(populate_by_name=True)

    pa_fiscal_code: str = Field(alias="paFiscalCode")
    company_name: str = Field(alias="companyName")
    entity_type: str = Field(alias="entityType")
    entity_fiscal_code: str = Field(alias="entityFiscalCode")
    entity_full_name: str = Field(alias="entityFullName")
    iuv: str
    nav: str
    amount: int
    description: str
    expiration_date: str = Field(
        alias="expirationDate",
        description="The wall-clock time the EC sent, without its offset, as pagoPA's service "
        "writes it (e.g. 2026-12-31T23:00, 2026-12-31T23:00:15.250).",
    )
    iban: str | None = None
    postal_iban: str | None = Field(default=None, alias="postalIban")
    switch_to_expired: bool = Field(alias="switchToExpired")
    status: Status

    @model_serializer(mode="wrap")
    def _without_nulls(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None}


def answer_of(document: dict[str, Any], status: Status) -> DebtPositionResponse:
    """The ``DebtPositionResponse`` of a stored position."""
    local = document.get("expirationLocal")
    if local is None:  # stored before the local time was kept: its UTC time, as UTC
        local = local_date_time(datetime.fromisoformat(document["expirationDate"]))
    return DebtPositionResponse(
        pa_fiscal_code=document["paFiscalCode"],
        company_name=document["companyName"],
        entity_type=document["entityType"],
        entity_fiscal_code=document["entityFiscalCode"],
        entity_full_name=document["entityFullName"],
        iuv=document["iuv"],
        nav=document["nav"],
        amount=document["amount"],
        description=document["description"],
        expiration_date=local,
        iban=document.get("iban"),
        postal_iban=document.get("postalIban"),
        switch_to_expired=document["switchToExpired"],
        status=status,
    )


CONTENT_FIELDS = (
    "paFiscalCode",
    "companyName",
    "entityType",
    "entityFiscalCode",
    "entityFullName",
    "iuv",
    "amount",
    "description",
    "expirationDate",
    "expirationLocal",
    "iban",
    "postalIban",
    "switchToExpired",
    "payStandIn",
)
"""What an EC's write sets (the nav is set once, at creation): equal content means the write
changes nothing."""


def content_of(write: PositionIn, *, company_name: str, default_iban: str | None) -> dict[str, Any]:
    """The stored content a write asks for (JSON form, aliases)."""
    return {
        "paFiscalCode": write.pa_fiscal_code,
        "companyName": company_name,
        "entityType": write.entity_type,
        "entityFiscalCode": write.entity_fiscal_code,
        "entityFullName": write.entity_full_name,
        "iuv": write.iuv,
        "amount": write.amount,
        "description": write.description,
        "expirationDate": fixed_time(write.expiration_date),
        "expirationLocal": local_date_time(write.expiration_date),
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
    model_config = ConfigDict(populate_by_name=True)

    line: int = Field(
        description="1-based: the NDJSON line, the JSON array's element, or the position in "
        "the uploaded file's list."
    )
    reason: str
    status: int | None = Field(
        default=None, description="The HTTP status the same position would get on its own."
    )
    iupd: str | None = Field(default=None, description="The position's IUPD, when readable.")


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


UploadFormat = Literal["ndjson", "gpd"]
"""How a stored upload is written: NDJSON (one position per line), or pagoPA's upload file (the
JSON of ``gpd-4-aca_massive_v2``: a list of GPD payment positions, or of IUPDs to delete)."""
UploadOperation = Literal["upsert", "delete"]


class ChunkTask(BaseModel):
    """The queue message of one batch of a bulk upload: a byte range of the stored upload.

    Read from a queue, so bounded like a request: a message out of these bounds is permanent
    failed work, never arithmetic on a date or a number nobody sent."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    bulk_id: str = Field(alias="bulkId", pattern=r"^[0-9a-f]{32}$")
    chunk: StrictInt = Field(ge=0, le=MAX_POSITIONS)
    blob: SafeText = Field(min_length=1, max_length=1024)  # Blob storage's limit on a name
    offset: StrictInt = Field(ge=0, le=MAX_FILE_CONTENT_BYTES)
    length: StrictInt = Field(ge=0, le=MAX_FILE_CONTENT_BYTES)
    first_line: StrictInt = Field(alias="firstLine", ge=1, le=MAX_FILE_CONTENT_BYTES + 1)
    received_at: BoundedDateTime = Field(alias="receivedAt")
    party_id: str = Field(alias="partyId", pattern=PARTY_ID)
    segregation_codes: list[Annotated[str, Field(pattern=SEGREGATION_CODE)]] | None = Field(
        default=None, alias="segregationCodes", max_length=100
    )
    format: UploadFormat = "ndjson"
    operation: UploadOperation = "upsert"
    pa_fiscal_code: str | None = Field(
        default=None,
        alias="paFiscalCode",
        pattern=PARTY_ID,
        description="The EC an uploaded file is for (pagoPA's upload names it in its path).",
    )


class UploadStatus(BaseModel):
    """pagoPA's ``UploadStatusDTO`` of an uploaded file (``pagopa-gpd-upload``)."""

    model_config = ConfigDict(populate_by_name=True)

    file_id: str = Field(alias="fileId")
    processed_item: int = Field(alias="processedItem", description="Positions processed.")
    submitted_item: int = Field(alias="submittedItem", description="Positions in the file.")
    start_time: str = Field(alias="startTime", description="yyyy-MM-dd HH:mm:ss, UTC.")
    operation_status: Literal[
        "IN_PROGRESS", "COMPLETED", "COMPLETED_WITH_WARNINGS", "COMPLETED_UNSUCCESSFULLY"
    ] = Field(alias="operationStatus")


class UploadResponse(BaseModel):
    """The positions of an upload that ended alike: their status, why, and their IUPDs."""

    model_config = ConfigDict(populate_by_name=True)

    status_code: int = Field(alias="statusCode")
    status_message: str = Field(alias="statusMessage")
    iupds: list[str]


class UploadReport(BaseModel):
    """pagoPA's ``UploadReportDTO`` of an uploaded file, once every position is processed."""

    model_config = ConfigDict(populate_by_name=True)

    file_id: str = Field(alias="fileId")
    processed_item: int = Field(alias="processedItem")
    submitted_item: int = Field(alias="submittedItem")
    responses: list[UploadResponse]
    start_time: str = Field(alias="startTime", description="yyyy-MM-ddTHH:mm:ss.SSS, UTC.")
    end_time: str = Field(alias="endTime", description="yyyy-MM-ddTHH:mm:ss.SSS, UTC.")


class FileIdList(BaseModel):
    """pagoPA's ``FileIdListResponse``: a page of a broker's uploaded files for one EC."""

    model_config = ConfigDict(populate_by_name=True)

    file_ids: list[str] = Field(alias="fileIds")
    size: int = Field(description="Files in this page.")
    has_more: bool = Field(
        alias="hasMore", description="Another page follows: pass x-continuation-token back."
    )
