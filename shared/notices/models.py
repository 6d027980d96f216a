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

A position is named as pagoPA names it, by its IUPD (:mod:`shared.notices.identity`). Its nav
is set when it is created and kept (pagoPA's update does not carry it). The models of bulk
uploads are in :mod:`shared.notices.bulk_models`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    field_validator,
    model_serializer,
)

from shared.notices.identity import AUX_DIGIT, default_nav, iupd
from shared.notices.times import StoredTime, fixed_time, in_utc, local_date_time
from shared.parties.models import valid_iban
from shared.platform.errors import Invalid
from shared.platform.pan import contains_pan
from shared.platform.values import MAX_YEAR, MIN_YEAR, unsafe_character

Status = Literal["VALID", "INVALID", "EXPIRED", "PAID"]
Action = Literal["created", "updated", "invalidated", "revalidated", "expired", "paid"]

EC_FISCAL_CODE = r"^[0-9]{11}$"
"""An EC's fiscal code as the registry and the node write it (the ACA body takes any 11
characters: one that names no registered EC is a 404)."""
NAV = r"^[0-9]{18}$"
"""A notice number the node, a printed notice and its QR code can carry."""
SEGREGATION_CODE = r"^[0-9]{2}$"
MAX_AMOUNT = 99_999_999_999
MAX_TEXT = 255
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_FILE_CONTENT_BYTES = 100 * 1024 * 1024
"""The most an uploaded file may hold unzipped (pagoPA's upload service takes as much)."""
MAX_POSITIONS = 50_000
HISTORY_LENGTH = 20
"""Changes kept on a position (the newest ones)."""


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
class Payer(BaseModel):
    """Who paid, as the PSP's outcome named them (pagoPA's ``ctSubject``: an identifier of up to
    16 characters, a full name of up to 70)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    fiscal_code: str = Field(alias="fiscalCode", min_length=1, max_length=35)
    full_name: str | None = Field(default=None, alias="fullName", max_length=140)


class PaidWith(BaseModel):
    """How a position was paid, as the payment's outcome says: stored with the position
    (``paidWith``) for the EC's receipts and payments list, never returned by the archive's
    own routes (its ``Position`` ignores it)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    method: str = Field(min_length=1, max_length=35, description="pagoPA's code: CP, BBT, PPAL...")
    fee: int = Field(ge=0, le=10**13, description="The PSP's fee, euro cents.")
    payer: Payer | None = None


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
