"""Parties as received (operator routes), stored and returned."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["ec", "intermediary", "acquirer", "psp", "node", "station"]
PARTY_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class PartyIn(BaseModel):
    """What an operator sends to register or update a party."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    party_id: str = Field(alias="partyId", pattern=PARTY_ID)
    name: str = Field(min_length=1, max_length=200)
    role: Role
    acts_for: dict[str, list[str]] = Field(
        default_factory=dict, alias="actsFor",
        description="EC fiscal code -> the segregation codes this party may act on "
                    "(an empty list: all of them). An EC acts for itself implicitly.")
    secret_name: str | None = Field(
        default=None, alias="secretName", max_length=127,
        description="Name of this party's signing secret in the secret provider (PSPs).")


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

    grace_seconds: int = Field(default=86400, ge=0, le=30 * 86400, alias="graceSeconds")
