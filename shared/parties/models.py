"""Parties as received (operator routes), stored and returned."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

Role = Literal["ec", "intermediary", "acquirer", "psp", "node", "station", "sender"]
PARTY_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_IBAN_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def valid_iban(value: str) -> bool:
    """ISO 13616: two letters, two check digits, up to 30 letters or digits, mod 97 == 1."""
    if not 15 <= len(value) <= 34 or not set(value) <= _IBAN_CHARS:
        return False
    if not (value[:2].isalpha() and value[2:4].isdigit()):
        return False
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


class SendLimits(BaseModel):
    """How much a ``sender`` (a public service notifying citizens) may send per minute."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    requests_per_minute: StrictInt = Field(
        alias="requestsPerMinute",
        ge=1,
        le=100_000,
        description="Notification requests per minute (each names up to 1,000 recipients).",
    )
    recipients_per_minute: StrictInt = Field(
        alias="recipientsPerMinute",
        ge=1,
        le=10_000_000,
        description="Recipients per minute, summed over the requests.",
    )


class PartyIn(BaseModel):
    """What an operator sends to register or update a party."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    party_id: str = Field(alias="partyId", pattern=PARTY_ID)
    name: str = Field(min_length=1, max_length=200)
    role: Role
    acts_for: dict[str, list[str]] = Field(
        default_factory=dict,
        alias="actsFor",
        description="EC fiscal code -> the segregation codes this party may act on "
        "(an empty list: all of them). An EC acts for itself implicitly.",
    )
    secret_name: str | None = Field(
        default=None,
        alias="secretName",
        max_length=127,
        description="Name of this party's signing secret in the secret provider (PSPs).",
    )
    default_iban: str | None = Field(
        default=None,
        alias="defaultIban",
        min_length=27,
        max_length=27,
        description="An EC's IBAN for notices that name none (the notice archive).",
    )
    postal_account: str | None = Field(
        default=None,
        alias="postalAccount",
        pattern=r"^[0-9]{1,12}$",
        description="An EC's BancoPosta account number: its paper notices then carry Poste's "
        "paying-in slip and data matrix (absent: the pagoPA part only).",
    )
    stations: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="An EC's stations (party ids of role station). A station's actsFor says "
        "which of the EC's segregation codes it serves (empty: all).",
    )
    endpoint: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="A station's base URL for the EC-facing protocol of the stand-in "
        "gateway (verify, activate, receipt); the credential it expects is the "
        "secret named secretName.",
    )
    broker_id: str | None = Field(
        default=None,
        alias="brokerId",
        pattern=r"^[A-Za-z0-9_.-]{1,35}$",
        description="A station's intermediary, the node's idBrokerPA in every call to it "
        "(absent: the part of the station's id before its last '_', as pagoPA names stations).",
    )
    send_limits: SendLimits | None = Field(
        default=None,
        alias="sendLimits",
        description="A sender's rate limits (required for role sender, refused for others).",
    )

    @field_validator("default_iban")
    @classmethod
    def _iban(cls, value: str | None) -> str | None:
        if value is not None and not valid_iban(value):
            raise ValueError("is not a valid IBAN (format or check digits)")
        return value

    @model_validator(mode="after")
    def _limits_for_senders(self) -> PartyIn:
        if self.role == "sender" and self.send_limits is None:
            raise ValueError("a sender needs sendLimits (its rate limits)")
        if self.role != "sender" and self.send_limits is not None:
            raise ValueError("only a sender has sendLimits")
        if self.role != "ec" and self.postal_account is not None:
            raise ValueError("only an EC has a postalAccount")
        if self.role != "station" and self.broker_id is not None:
            raise ValueError("only a station has a brokerId")
        return self


class Party(PartyIn):
    """A party as stored and returned (never with its keys)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class IssuedKey(BaseModel):
    """A new API key, shown once."""

    model_config = ConfigDict(populate_by_name=True)

    party_id: str = Field(alias="partyId")
    key: str
    key_id: str = Field(alias="keyId")
    previous_keys_expire_at: datetime | None = Field(default=None, alias="previousKeysExpireAt")


class RotateKey(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    grace_seconds: StrictInt = Field(default=86400, ge=0, le=30 * 86400, alias="graceSeconds")
