"""What the journal stores and returns: one entry per event, never changed once written."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal[
    "position.created",
    "position.updated",
    "position.invalidated",
    "position.paid",
    "position.expired",
    "receipt.delivered",
    "upload.started",
    "upload.finished",
    "station.standin.entered",
    "station.standin.exited",
    "signin",
    "write",
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]

NOTICE_EVENT_KINDS: dict[str, Kind] = {
    "NoticeCreated": "position.created",
    "NoticeUpdated": "position.updated",
    "NoticeInvalidated": "position.invalidated",
    "NoticePaid": "position.paid",
    "NoticeExpired": "position.expired",
}
"""The archive's event types (shared/notices/events.py) -> the journal's kinds."""


class Who(BaseModel):
    """A back-office user, as the platform's sign-in named it."""

    model_config = ConfigDict(populate_by_name=True)

    object_id: str = Field(alias="objectId")
    name: str | None = None


class Entry(BaseModel):
    """One journal entry. ``id`` is the id of the event it records, so a redelivered event
    writes nothing new."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    ec: str = Field(description="The EC's fiscal code")
    at: datetime = Field(description="When it happened (UTC)")
    kind: Kind
    object: str | None = Field(default=None, description="What it concerns: a notice code")
    who: Who | None = Field(default=None, description="The back-office user; null: a system")
    from_: str | None = Field(
        default=None, alias="from", description="The client IP the platform passed"
    )
    summary: str = Field(description="What happened, in a short sentence (Italian)")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="The object's fields the event carries"
    )


class EntryPage(BaseModel):
    """A page of journal entries, newest first."""

    model_config = ConfigDict(populate_by_name=True)

    items: list[Entry]
    next_cursor: str | None = Field(
        alias="nextCursor", description="Pass as cursor for the next page; null on the last."
    )
