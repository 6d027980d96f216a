"""What the back office's API receives and returns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.notices.models import Position, PositionIn
from shared.parties.users import BackOfficeRole


class BackOfficePosition(PositionIn):
    """A position as the back office's forms send it: the archive's own request model (every
    rule is the archive's), with unknown fields refused, as on every API of ours."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EcAccess(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    fiscal_code: str = Field(alias="fiscalCode")
    name: str
    role: BackOfficeRole


class Me(BaseModel):
    """The signed-in user and what it may do."""

    model_config = ConfigDict(populate_by_name=True)

    object_id: str = Field(alias="objectId")
    name: str
    ecs: list[EcAccess]


class PositionList(BaseModel):
    """A page of an EC's positions, by IUPD."""

    model_config = ConfigDict(populate_by_name=True)

    items: list[Position]
    next_cursor: str | None = Field(
        alias="nextCursor", description="Pass as cursor for the next page; null on the last."
    )
