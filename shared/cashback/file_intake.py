"""The intake of acquirers' files: a blob-created event in, scored chunks and a report out.

A file that lands in an acquirer's container (by SFTP or the HTTPS upload) raises a
blob-created event (Event Grid -> the files queue in Azure; the local upload and SFTP server
send the same event). The worker then, streaming, with memory bounded whatever the size:
decrypts (:mod:`~shared.cashback.pgp`), parses (:mod:`~shared.cashback.rtd_files`), checks
each line with the JSON API's own rules (:func:`~shared.cashback.intake.line_refusal`) plus
the file's (the line's acquirer code is the file's ABI; no line twice), enqueues accepted
lines for today's scorer in chunks, and writes the rejected lines, with their numbers and
reasons, to ``<name>.report.csv`` next to the file.

Each file is processed once: a record per file (``file:<container>:<name>``) says it is done,
so a redelivered event or the same name uploaded again changes nothing. A file is worked on a
slice at a time (``CASHBACK_FILES_SLICE_SECONDS``): a slice ends after a send, records a
checkpoint in the record and sends a continuation; the next slice skips to the checkpoint
and carries on, so a file of any length ends within the function's timeout per invocation.
A worker that dies midway leaves the record at its latest checkpoint; the redelivery does the
slice again from there, which counts nothing twice (the chunks' message ids are the same, and
the scorer counts each transaction id once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.cashback import rules
from shared.cashback.acquirer_api import TransactionIn
from shared.cashback.chunks import CHUNK_LINES, chunk_message
from shared.cashback.file_blobs import FileBlobs, party_of
from shared.cashback.file_report import REPORT_SUFFIX, SPOOL_BYTES, Report, joined, part_name
from shared.cashback.file_window import DUPLICATE_WINDOW, _Recent
from shared.cashback.intake import ActsFor, duplicate_key, line_refusal
from shared.cashback.rtd_files import FileName, LineReject, ParsedLine, parse_name, parse_stream
from shared.cashback.store import CashbackStore, StaleDocument
from shared.parties.models import Party
from shared.platform.errors import Invalid, NotFound, PermanentError
from shared.platform.messaging import Outgoing, Sender
from shared.platform.values import BoundedDateTime

logger = logging.getLogger(__name__)

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
SEND_CHUNKS = 20  # chunks per send: 5,000 lines, a few MB held at most
_SUBJECT_PREFIX = "/blobServices/default/containers/"
Status = Literal["PROCESSING", "DONE", "REFUSED", "FAILED"]


class BlobCreated(BaseModel):
    """The Event Grid event of a new blob (Event Grid schema), as its queue message carries it;
    only what the intake reads (the rest of the event is ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(max_length=200)
    event_type: str = Field(alias="eventType")
    subject: str = Field(max_length=1200)
    event_time: BoundedDateTime = Field(alias="eventTime")
    checkpoint: int = Field(default=0, ge=0, le=2**53, strict=True)
    """A continuation's (ours, not Event Grid's): the line the file's record had consumed
    when it was sent; 0 in the blob-created event itself."""


def blob_created_event(container: str, name: str, at: datetime, url: str) -> dict[str, Any]:
    """The event Azure sends when ``name`` lands in ``container`` (for the local senders)."""
    subject = f"{_SUBJECT_PREFIX}{container}/blobs/{name}"
    return {
        "id": hashlib.sha256(f"{subject}|{at.isoformat()}".encode()).hexdigest()[:32],
        "topic": "local",
        "subject": subject,
        "eventType": BLOB_CREATED,
        "eventTime": at.isoformat(),
        "dataVersion": "",
        "metadataVersion": "1",
        "data": {"api": "PutBlob", "blobType": "BlockBlob", "url": url},
    }


def event_message(event: dict[str, Any]) -> Outgoing:
    return Outgoing.json(f"blob:{event['id']}", event)


class FileRecord(BaseModel):
    """The processed-files record, in the file's own partition."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    pk: str
    kind: Literal["file"] = "file"
    party_id: str = Field(alias="partyId")
    container: str
    name: str
    status: Status
    received_at: datetime = Field(alias="receivedAt")
    finished_at: datetime | None = Field(default=None, alias="finishedAt")
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    reason: str | None = None
    report: str | None = None
    consumed: int = 0
    """The checkpoint: the number of the last line consumed (line numbers count every line)."""
    parts: int = 0
    """Report parts written so far (one per slice that ended before the file did)."""


class Parties(Protocol):
    async def get(self, party_id: str) -> Party: ...


class Decryptor(Protocol):
    def decrypt(self, chunks: Any) -> Any:
        """An async iterator of plaintext blocks from one of ciphertext blocks."""
        ...


def record_id(container: str, name: str) -> str:
    # "/" may not appear in a Cosmos id
    return f"file:{container}:{name}"


def continuation(record: FileRecord) -> Outgoing:
    """The message that resumes ``record``'s file at its checkpoint. Its id is the file and the
    checkpoint: a second send of the same continuation is dropped by duplicate detection."""
    subject = f"{_SUBJECT_PREFIX}{record.container}/blobs/{record.name}"
    key = hashlib.sha256(f"{record.id}|{record.consumed}".encode()).hexdigest()[:40]
    event = {
        "id": key,
        "subject": subject,
        "eventType": BLOB_CREATED,
        "eventTime": record.received_at.isoformat(),
        "checkpoint": record.consumed,
    }
    return Outgoing.json(f"slice:{key}", event)


class FileIntake:
    """Processes each delivered file once."""

    def __init__(
        self,
        *,
        blobs: FileBlobs,
        decryptor: Decryptor,
        store: CashbackStore,
        parties: Parties,
        sender: Sender,
        queue: str,
        periods: tuple[rules.Period, ...],
        container_prefix: str,
        duplicate_window: int = DUPLICATE_WINDOW,
        send_chunks: int = SEND_CHUNKS,
        files_queue: str = "",
        slice_seconds: float | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """``slice_seconds``: how long one invocation works on a file before it records a
        checkpoint and sends a continuation to ``files_queue`` (None: the whole file at once).
        ``timer`` measures it (a fake one in tests)."""
        self._files_queue = files_queue
        self._slice_seconds = slice_seconds
        self._timer = timer
        self._window = duplicate_window
        self._send_chunks = send_chunks
        self._blobs = blobs
        self._decryptor = decryptor
        self._store = store
        self._parties = parties
        self._sender = sender
        self._queue = queue
        self._periods = periods
        self._prefix = container_prefix

    async def on_event(self, body: bytes, *, now: datetime) -> FileRecord | None:
        """Process the file a blob-created event names (None: not an acquirer's file, such as
        a report).

        Raises:
            PermanentError: the message is no blob-created event.
        """
        try:
            event = BlobCreated.model_validate_json(body)
        except ValidationError as error:
            raise PermanentError(
                f"not a blob-created event: {error.error_count()} problem(s)"
            ) from None
        if event.event_type != BLOB_CREATED or not event.subject.startswith(_SUBJECT_PREFIX):
            return None
        container, _, name = event.subject[len(_SUBJECT_PREFIX) :].partition("/blobs/")
        party_id = party_of(self._prefix, container)
        if party_id is None or name.endswith(REPORT_SUFFIX) or "/" in name:
            return None
        return await self.process(
            party_id,
            container,
            name,
            received_at=event.event_time,
            now=now,
            checkpoint=event.checkpoint,
        )

    async def process(
        self,
        party_id: str,
        container: str,
        name: str,
        *,
        received_at: datetime,
        now: datetime,
        checkpoint: int = 0,
    ) -> FileRecord:
        """Process ``name`` of ``party_id`` unless it was processed already: from its record's
        checkpoint, for at most the slice's time (then a continuation carries on)."""
        record, etag = await self._start(party_id, container, name, received_at)
        if record.status != "PROCESSING":
            return record  # done before: a redelivery, or the same name again
        if record.consumed != checkpoint:
            # A message from before the latest checkpoint: a duplicate continuation, the
            # event redelivered, or a slice that died after its checkpoint and before its
            # continuation. Sending the latest continuation covers all three: when it was sent
            # already, duplicate detection drops it.
            if self._slice_seconds is not None:
                await self._sender.send(self._files_queue, [continuation(record)])
            return record
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            report = Report(spool)
            rights = await self._rights(party_id, name)
            if isinstance(rights, str):
                report.note(rights)
                record.status, record.reason = "REFUSED", rights
            else:
                try:
                    if not await self._lines(record, *rights, report):
                        await self._checkpoint(record, report, etag)
                        return record
                    record.status = "DONE"
                except (PermanentError, NotFound) as error:  # undecryptable, or gone
                    report.note(str(error))
                    record.status, record.reason = "FAILED", str(error)
            record.rejected += report.count
            record.report = name + REPORT_SUFFIX
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as whole:
                await joined(
                    self._blobs, record.container, record.name, record.parts, report, whole
                )
                await self._blobs.put(container, record.report, whole)
        record.finished_at = now
        await self._finish(record)
        for part in range(1, record.parts + 1):
            # After the record is final: a part left by a crash here is only a stray blob.
            await self._blobs.delete(container, part_name(name, part))
        logger.info(
            "file %s/%s: %s, %s lines, %s accepted, %s rejected",
            container,
            name,
            record.status,
            record.lines,
            record.accepted,
            record.rejected,
        )
        return record

    async def _start(
        self, party_id: str, container: str, name: str, received_at: datetime
    ) -> tuple[FileRecord, str | None]:
        """The file's record, and its ETag (a checkpoint replaces that version only)."""
        key = record_id(container, name)
        raw = await self._store.get(key, key)
        if raw is None:
            fresh = FileRecord(
                id=key,
                pk=key,
                party_id=party_id,
                container=container,
                name=name,
                status="PROCESSING",
                received_at=received_at,
            )
            try:
                raw = await self._store.create(fresh.model_dump(mode="json", by_alias=True))
            except StaleDocument:
                raw = await self._store.get(key, key)
                if raw is None:
                    raise
        return FileRecord.model_validate(raw), raw.get("_etag")

    async def _checkpoint(self, record: FileRecord, report: Report, etag: str | None) -> None:
        """End a slice: its report part, the record's checkpoint, the continuation, in this
        order. The part first: a slice that dies before its checkpoint is done again from the
        same checkpoint, and writes the same part under the same name."""
        record.parts += 1
        record.rejected += report.count
        report.file.seek(0)
        await self._blobs.put(record.container, part_name(record.name, record.parts), report.file)
        document = {**record.model_dump(mode="json", by_alias=True), "_etag": etag}
        try:
            await self._store.replace(document)
        except StaleDocument:
            # Another delivery of the same slice checkpointed first: it sends the continuation.
            logger.info("file %s: slice at line %s ended elsewhere", record.id, record.consumed)
            return
        await self._sender.send(self._files_queue, [continuation(record)])
        logger.info("file %s: checkpoint at line %s", record.id, record.consumed)

    async def _finish(self, record: FileRecord) -> None:
        key = record.id
        for _ in range(3):
            raw = await self._store.get(key, key)
            if raw is None or raw.get("status") != "PROCESSING":
                return  # another delivery finished it meanwhile: the same outcome
            document = {**raw, **record.model_dump(mode="json", by_alias=True)}
            try:
                await self._store.replace(document)
                return
            except StaleDocument:
                continue

    async def _rights(self, party_id: str, name: str) -> tuple[FileName, ActsFor] | str:
        """The file's name and whom its sender sends for, or why the whole file is refused."""
        try:
            parsed = parse_name(name)
        except Invalid as error:
            return error.detail
        if not parsed.encrypted:
            return "the file is not encrypted: send <name>.csv.pgp, encrypted to our key"
        try:
            party = await self._parties.get(party_id)
        except NotFound:
            return f"{party_id} is no registered acquirer"
        if party.role != "acquirer":
            return f"{party_id} is no acquirer"
        if parsed.abi not in party.acts_for:
            return f"{party_id} may not send files of ABI {parsed.abi}"
        return parsed, party.acts_for

    async def _lines(
        self, record: FileRecord, parsed: FileName, acts_for: ActsFor, report: Report
    ) -> bool:
        """This slice's lines, from the checkpoint; True when the file ended, False when the
        slice's time ran out (always at the end of a send: a checkpoint never splits one).

        A slice's sends are the 5,000 accepted lines after its checkpoint, whichever slice
        ends where: so the same slice makes the same chunks and message ids, and a slice
        done twice (it died after a send, before its checkpoint) counts nothing twice.
        """
        started = self._timer()
        seen = _Recent(
            self._window
        )  # per slice: a duplicate across a checkpoint is counted once by the scorer
        group: list[TransactionIn] = []
        group_lines = self._send_chunks * CHUNK_LINES
        # One send in flight while the next lines are parsed: the broker's round trip no
        # longer stops the decryption, and memory holds two sends' lines at most.
        sending: asyncio.Task[None] | None = None
        plaintext = self._decryptor.decrypt(self._blobs.read(record.container, record.name))
        try:
            async with contextlib.aclosing(parse_stream(plaintext, record.consumed)) as items:
                async for item in items:
                    record.lines += 1
                    record.consumed = item.line
                    if isinstance(item, LineReject):
                        report.add(item)
                        continue
                    reason = self._line_refusal(item, record, parsed, acts_for, seen)
                    if reason is not None:
                        report.add(LineReject(item.line, reason))
                        continue
                    record.accepted += 1
                    group.append(item.transaction)
                    if len(group) < group_lines:
                        continue
                    messages = self._chunks(record, group)
                    group = []
                    if sending is not None:
                        await sending
                    sending = asyncio.create_task(self._send(messages))
                    if self._slice_over(started):
                        return False
        finally:
            # Never left behind: a file that fails midway, or a slice that ends, still ends
            # its send (or its error) before the record says how far the file got.
            if sending is not None:
                await sending
            # The decryption too, when a slice ends before the file: its gpg process ends now.
            closing = getattr(plaintext, "aclose", None)
            if closing is not None:
                await closing()
        await self._send(self._chunks(record, group))
        return True

    def _slice_over(self, started: float) -> bool:
        return self._slice_seconds is not None and self._timer() - started >= self._slice_seconds

    @staticmethod
    def _chunks(record: FileRecord, group: list[TransactionIn]) -> list[Outgoing]:
        """A send's chunks, a card's lines together (in the file's order): the scorer writes
        a citizen's documents once per chunk, so a card's lines in one chunk cost one write
        instead of one each. The same file makes the same chunks, and the same message ids."""
        lines = sorted(group, key=lambda line: line.hpan)
        return [
            chunk_message(record.party_id, lines[start : start + CHUNK_LINES], record.received_at)
            for start in range(0, len(lines), CHUNK_LINES)
        ]

    async def _send(self, messages: Sequence[Outgoing]) -> None:
        if messages:
            await self._sender.send(self._queue, messages)

    def _line_refusal(
        self,
        item: ParsedLine,
        record: FileRecord,
        parsed: FileName,
        acts_for: ActsFor,
        seen: _Recent,
    ) -> str | None:
        line = item.transaction
        if line.acquirer_code != parsed.abi:
            return "NOT_THE_FILES_ACQUIRER_CODE"
        reason = line_refusal(
            line,
            self._periods,
            party_id=record.party_id,
            acts_for=acts_for,
            now=record.received_at,
        )
        if reason is not None:
            return reason
        key = int.from_bytes(
            hashlib.blake2b(duplicate_key(line).encode(), digest_size=8).digest(), "big"
        )
        return "DUPLICATE_IN_FILE" if not seen.add(key) else None
