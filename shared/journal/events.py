"""What arrives on the journal's queue, and the entry each message becomes.

Every message is an outbox event (``id``, ``type``, ``createdAt``, ``data``: see
:mod:`shared.platform.outbox`), so its id is the entry's id and a redelivery writes nothing new.
The capabilities that send them do not import the journal (they are its siblings in the
layers); their ``data`` is read here, by type:

- the archive's position events (``NoticeCreated`` ... ``NoticeExpired``,
  :mod:`shared.notices.events`): what a position became;
- ``NoticeWriteNoted``: a back-office user's write of a position, put in the written
  position's outbox by the same write (who, from where, the fields the form sent);
- ``UploadStarted`` / ``UploadFinished``: a back-office upload, from the bulk's document
  (:mod:`shared.notices.bulk`);
- ``StationStandInEntered`` / ``StationStandInExited``: one of the EC's stations entered or
  left stand-in, from the station's document (:mod:`shared.standin.manager`);
- ``SignedIn``: a back-office user's sign-in, sent by ``GET /api/bo/v1/me``
  (:mod:`shared.journal.signin`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, field_validator

from shared.journal.models import NOTICE_EVENT_KINDS, Entry, Kind, Who
from shared.platform.values import MAX_JSON_INT, BoundedDateTime, SafeText

_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")
_EVENT_ID = r"^[A-Za-z0-9._:-]+$"

SUMMARIES: dict[str, str] = {
    "position.created": "Posizione creata",
    "position.updated": "Posizione modificata",
    "position.invalidated": "Posizione annullata",
    "position.paid": "Posizione pagata",
    "position.expired": "Posizione scaduta",
    "signin": "Accesso al back office",
    "upload.started": "Caricamento file avviato",
    "upload.finished": "Caricamento file concluso",
    "station.standin.entered": "Stazione entrata in stand-in",
    "station.standin.exited": "Stazione uscita dallo stand-in",
}


class _Data(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    ec_fiscal_code: str = Field(alias="ecFiscalCode", pattern=r"^[0-9]{11}$")


class _NoticeData(_Data):
    """What the journal reads of an archive event's data (shared/notices/events.py)."""

    notice_code: str = Field(alias="noticeCode", pattern=r"^[0-9]{18}$")
    iuv: SafeText = Field(max_length=35)
    debtor_fiscal_code: SafeText = Field(alias="debtorFiscalCode", max_length=64)
    description: SafeText = Field(max_length=1000)
    amount: StrictInt = Field(ge=0, le=10**13)
    due_date: SafeText = Field(alias="dueDate", max_length=40)
    status: SafeText = Field(max_length=20)
    seq: StrictInt = Field(ge=1, le=MAX_JSON_INT)


class _Actor(BaseModel):
    """A back-office user and the address its request came from."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    object_id: SafeText = Field(alias="objectId", min_length=1, max_length=100)
    name: SafeText | None = Field(default=None, max_length=200)
    from_: SafeText | None = Field(default=None, alias="from", max_length=64)

    def who(self) -> Who:
        return Who(object_id=self.object_id, name=self.name)


class _WriteData(_Data):
    notice_code: str = Field(alias="noticeCode", pattern=r"^[0-9]{18}$")
    by: _Actor
    action: SafeText = Field(min_length=1, max_length=100)
    fields: dict[str, Any] = Field(default_factory=dict, max_length=50)


_EC = Annotated[str, Field(pattern=r"^[0-9]{11}$")]


class _UploadData(_Data):
    bulk_id: str = Field(alias="bulkId", pattern=r"^[0-9a-f]{32}$")
    other_ecs: list[_EC] = Field(default_factory=list, alias="otherEcs", max_length=1000)
    """An intermediary's upload: the other ECs whose positions it holds."""

    def ecs(self) -> list[str]:
        return [self.ec_fiscal_code, *(ec for ec in self.other_ecs if ec != self.ec_fiscal_code)]


class _UploadStartedData(_UploadData):
    by: _Actor
    file_name: SafeText | None = Field(default=None, alias="fileName", max_length=255)
    lines: StrictInt = Field(ge=0, le=MAX_JSON_INT)
    chunks: StrictInt = Field(ge=0, le=MAX_JSON_INT)


class _Counts(BaseModel):
    written: StrictInt = Field(ge=0, le=MAX_JSON_INT)
    rejected: StrictInt = Field(ge=0, le=MAX_JSON_INT)


class _UploadFinishedData(_UploadData):
    file_name: SafeText | None = Field(default=None, alias="fileName", max_length=255)
    lines: StrictInt = Field(ge=0, le=MAX_JSON_INT)
    written: StrictInt = Field(ge=0, le=MAX_JSON_INT)
    rejected: StrictInt = Field(ge=0, le=MAX_JSON_INT)
    by_ec: dict[_EC, _Counts] | None = Field(default=None, alias="byEc", max_length=1001)
    """An upload holding several ECs' positions: each EC's own lines written and rejected."""


class _StationData(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    ec_fiscal_code: str | None = Field(default=None, alias="ecFiscalCode", pattern=r"^[0-9]{11}$")
    """Set by the manager before the journal looked the ECs up itself (a message in flight)."""
    station_id: str = Field(alias="stationId", pattern=r"^[A-Za-z0-9_.-]{1,35}$")
    at: BoundedDateTime
    reason: SafeText = Field(max_length=500)
    by: SafeText = Field(max_length=200)
    mode: SafeText = Field(max_length=20)


class _Envelope(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(min_length=1, max_length=100, pattern=_EVENT_ID)
    created_at: BoundedDateTime = Field(alias="createdAt")

    @field_validator("created_at", mode="before")
    @classmethod
    def _written_out(cls, value: Any) -> Any:
        # pydantic reads a string of digits as seconds (or ms) since 1970, as a number
        if isinstance(value, str) and not _ISO_TIME.match(value):
            raise ValueError("createdAt is an ISO 8601 date-time")
        return value

    def _entry(
        self,
        ec: str,
        kind: Kind,
        object_: str | None,
        *,
        fields: dict[str, Any] | None = None,
        by: _Actor | None = None,
        at: datetime | None = None,
        summary: str | None = None,
    ) -> Entry:
        """The entry of this event in ``ec``'s journal: its id is the event's, its time the
        event's (``at``: when the event says it happened), its summary the kind's."""
        return Entry(
            id=self.id,
            ec=ec,
            at=(at or self.created_at).astimezone(UTC),
            kind=kind,
            object=object_,
            who=by.who() if by is not None else None,
            from_=by.from_ if by is not None else None,
            summary=summary or SUMMARIES[kind],
            fields=fields or {},
        )


class ArchiveEvent(_Envelope):
    """An archive event as it arrives on the journal's queue (the outbox's envelope)."""

    type: Literal[
        "NoticeCreated", "NoticeUpdated", "NoticeInvalidated", "NoticePaid", "NoticeExpired"
    ]
    data: _NoticeData

    def entry(self) -> Entry:
        data = self.data
        fields = data.model_dump(by_alias=True, exclude={"ec_fiscal_code", "notice_code"})
        kind = NOTICE_EVENT_KINDS[self.type]
        return self._entry(data.ec_fiscal_code, kind, data.notice_code, fields=fields)


class WriteNoted(_Envelope):
    """A back-office user's write of a position (in the same outbox as the archive's event)."""

    type: Literal["NoticeWriteNoted"]
    data: _WriteData

    def entry(self) -> Entry:
        data = self.data
        return self._entry(
            data.ec_fiscal_code,
            "write",
            data.notice_code,
            fields=data.fields,
            by=data.by,
            summary=data.action,
        )


class UploadStarted(_Envelope):
    """An upload started: an entry in the journal of each EC it holds positions of."""

    type: Literal["UploadStarted"]
    data: _UploadStartedData

    def entry_for(self, ec: str) -> Entry:
        data = self.data
        fields = data.model_dump(by_alias=True, include={"file_name", "lines", "chunks"})
        return self._entry(ec, "upload.started", data.bulk_id, fields=fields, by=data.by)


class UploadFinished(_Envelope):
    type: Literal["UploadFinished"]
    data: _UploadFinishedData

    def entry_for(self, ec: str) -> Entry:
        data = self.data
        fields = data.model_dump(
            by_alias=True, include={"file_name", "lines", "written", "rejected"}
        )
        own = (data.by_ec or {}).get(ec)
        if own is not None:  # this EC's lines of an upload that held several ECs' positions
            whole = {"uploadWritten": data.written, "uploadRejected": data.rejected}
            fields.update(own.model_dump(), **whole)
        return self._entry(ec, "upload.finished", data.bulk_id, fields=fields)


_STATION_KINDS: dict[str, Kind] = {
    "StationStandInEntered": "station.standin.entered",
    "StationStandInExited": "station.standin.exited",
}


class StationStandIn(_Envelope):
    """A station entered or left stand-in: one entry in the journal of each EC it acts for
    (which the consumer looks up in the registry), each with the event's id."""

    type: Literal["StationStandInEntered", "StationStandInExited"]
    data: _StationData

    def entry_for(self, ec: str) -> Entry:
        data = self.data
        fields = {"reason": data.reason, "by": data.by, "mode": data.mode}
        kind = _STATION_KINDS[self.type]
        return self._entry(ec, kind, data.station_id, fields=fields, at=data.at)


class _SignInData(_Data):
    by: _Actor


class SignedIn(_Envelope):
    """A back-office user's sign-in (one per EC it may act for)."""

    type: Literal["SignedIn"]
    data: _SignInData

    def entry(self) -> Entry:
        return self._entry(self.data.ec_fiscal_code, "signin", None, by=self.data.by)


JournalMessage = Annotated[
    ArchiveEvent | WriteNoted | UploadStarted | UploadFinished | StationStandIn | SignedIn,
    Field(discriminator="type"),
]
JOURNAL_MESSAGE: TypeAdapter[JournalMessage] = TypeAdapter(JournalMessage)
"""Every message the journal's queue carries (the hostile suite's schema for it)."""
