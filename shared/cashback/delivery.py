"""Delivering a file by HTTPS: the acquirer's party key, into its own container.

The upload lands exactly where SFTP puts a file (the acquirer's container, under the file's
name), so both paths end in the same blob-created event and the same processing
(:mod:`shared.cashback.file_intake`). A name is delivered once: a second upload of it is a 409
(send the next file number). In Azure, Event Grid raises the event; locally
(``CASHBACK_FILES_LOCAL_EVENTS``) the upload sends the same event itself.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.cashback.file_blobs import FileBlobs, container_for
from shared.cashback.file_intake import (
    FileRecord,
    blob_created_event,
    event_message,
    record_id,
)
from shared.cashback.rtd_files import parse_name
from shared.cashback.store import CashbackStore
from shared.parties.models import Party
from shared.platform.errors import Forbidden, Invalid, NotFound
from shared.platform.messaging import Sender

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
"""The HTTPS cap (the Functions host buffers a request): bigger files go by SFTP."""


class FileDelivered(BaseModel):
    """The answer to an upload: where the file landed; its processing follows."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    container: str
    size: int
    received_at: datetime = Field(alias="receivedAt")


class FileState(BaseModel):
    """What became of a delivered file (``PROCESSING`` until its lines are all read)."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    status: str = Field(description="PROCESSING, DONE, REFUSED (whole file) or FAILED")
    lines: int
    accepted: int
    rejected: int
    reason: str | None = None
    report: str | None = Field(default=None, description="The report's name, next to the file")
    received_at: datetime = Field(alias="receivedAt")
    finished_at: datetime | None = Field(default=None, alias="finishedAt")
    checkpoints: int = Field(
        default=0,
        description="How many times its processing stopped at a checkpoint and went on in a "
        "new invocation (one per CASHBACK_FILES_SLICE_SECONDS); the counts above include "
        "the lines read so far while PROCESSING",
    )


class Uploads:
    """Stores acquirers' uploads; tells them what became of their files."""

    def __init__(
        self,
        *,
        blobs: FileBlobs,
        store: CashbackStore,
        sender: Sender,
        events_queue: str,
        container_prefix: str,
        local_events: bool,
    ) -> None:
        self._blobs = blobs
        self._store = store
        self._sender = sender
        self._events_queue = events_queue
        self._prefix = container_prefix
        self._local_events = local_events

    def _container(self, party: Party) -> str:
        container = container_for(self._prefix, party.party_id)
        if container is None:
            raise Forbidden("this acquirer's id cannot name a files container")
        return container

    async def upload(self, party: Party, name: str, data: bytes, *, now: datetime) -> FileDelivered:
        """Store ``data`` as ``name`` in the party's container.

        Raises:
            Invalid: not a transaction file's name, not encrypted, or empty.
            Forbidden: the party may not send files of the name's ABI.
            Conflict: the name was delivered already.
        """
        parsed = parse_name(name)
        if not parsed.encrypted:
            raise Invalid("send the file encrypted to the platform's key: <name>.csv.pgp")
        if not data:
            raise Invalid("the file is empty")
        if parsed.abi not in party.acts_for:
            raise Forbidden(f"this acquirer may not send files of ABI {parsed.abi}")
        container = self._container(party)
        await self._blobs.create(container, name, data)
        if self._local_events:
            event = blob_created_event(container, name, now, self._blobs.url(container, name))
            await self._sender.send(self._events_queue, [event_message(event)])
        return FileDelivered(name=name, container=container, size=len(data), received_at=now)

    async def state(self, party: Party, name: str) -> FileState:
        """What became of the party's file ``name``; NotFound before its processing starts."""
        key = record_id(self._container(party), name)
        raw = await self._store.get(key, key)
        if raw is None:
            raise NotFound(f"no file {name!r} processed yet")
        record = FileRecord.model_validate(raw)
        return FileState.model_validate(
            {**record.model_dump(by_alias=True), "checkpoints": record.parts}
        )

    async def report_url(self, party: Party, name: str, *, now: datetime) -> str:
        """Where to read the report of the party's file ``name`` (CSV: line;reason;detail)."""
        state = await self.state(party, name)
        if state.report is None:
            raise NotFound(f"the report of {name!r} is not written yet")
        return await self._blobs.read_url(self._container(party), state.report, now=now)
