"""Types both protocols share (their children are unqualified, so one model serves both
schemas): the notice's QR code, a subject (debtor, payer), metadata, and the response base."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from shared.pagopa.faults import Fault
from shared.pagopa.xml import XmlModel

FISCAL_CODE_PA = r"^[0-9]{11}$"
NOTICE_NUMBER = r"^[0-9]{18}$"
NAZIONE_PROVINCIA = r"^[A-Z]{2}$"
EMAIL = r"^[a-zA-Z0-9_.+\-]+@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$"
Outcome = Literal["OK", "KO"]


class QrCode(XmlModel):
    fiscal_code: str = Field(alias="fiscalCode", pattern=FISCAL_CODE_PA)
    notice_number: str = Field(alias="noticeNumber", pattern=NOTICE_NUMBER)


class EntityUniqueIdentifier(XmlModel):
    type: Literal["F", "G"] = Field(alias="entityUniqueIdentifierType")
    """F: a natural person (fiscal code); G: a legal person (VAT number)."""
    value: str = Field(alias="entityUniqueIdentifierValue", min_length=2, max_length=16)


class Subject(XmlModel):
    """``ctSubject``: a debtor or payer."""

    unique_identifier: EntityUniqueIdentifier = Field(alias="uniqueIdentifier")
    full_name: str = Field(alias="fullName", min_length=1, max_length=70)
    street_name: str | None = Field(default=None, alias="streetName", min_length=1, max_length=70)
    civic_number: str | None = Field(default=None, alias="civicNumber", min_length=1, max_length=16)
    postal_code: str | None = Field(default=None, alias="postalCode", min_length=1, max_length=16)
    city: str | None = Field(default=None, min_length=1, max_length=35)
    state_province_region: str | None = Field(
        default=None, alias="stateProvinceRegion", min_length=1, max_length=35
    )
    country: str | None = Field(default=None, pattern=NAZIONE_PROVINCIA)
    email: str | None = Field(default=None, alias="e-mail", pattern=EMAIL, max_length=256)


class MapEntry(XmlModel):
    key: str = Field(min_length=1, max_length=140)
    value: str = Field(min_length=1, max_length=140)


class Metadata(XmlModel):
    map_entry: list[MapEntry] = Field(alias="mapEntry", min_length=1, max_length=15)


class Response(XmlModel):
    """``ctResponse``: every answer's outcome, and its fault when KO."""

    outcome: Outcome
    fault: Fault | None = None

    @model_validator(mode="after")
    def _fault_with_ko(self) -> Self:
        if (self.outcome == "KO") != (self.fault is not None):
            raise ValueError("a KO carries a fault, an OK none")
        return self
