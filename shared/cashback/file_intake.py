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
so a redelivered event or the same name uploaded again changes nothing. A worker that dies
midway leaves the record ``PROCESSING``; the redelivery processes the file again from its
start, which counts nothing twice (the chunks' message ids are the same, and the scorer
counts each transaction id once).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from array import array
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.cashback import rules
from shared.cashback.acquirer_api import TransactionIn
from shared.cashback.chunks import CHUNK_LINES, chunk_message
from shared.cashback.file_blobs import FileBlobs, party_of
from shared.cashback.intake import ActsFor, duplicate_key, line_refusal
from shared.cashback.rtd_files import FileName, LineReject, ParsedLine, parse_name, parse_stream
from shared.cashback.store import CashbackStore, StaleDocument
from shared.parties.models import Party
from shared.platform.errors import Invalid, NotFound, PermanentError
from shared.platform.messaging import Outgoing, Sender
from shared.platform.values import BoundedDateTime

logger = logging.getLogger(__name__)

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
REPORT_SUFFIX = ".report.csv"
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


DUPLICATE_WINDOW = 200_000
"""How many of a file's latest accepted transactions a line is checked against for
DUPLICATE_IN_FILE. The window's memory is taken whole when a file starts (~5.6 MB), so a
worker's peak does not depend on the file's size. A duplicate further back is not reported,
and still counts once: the scorer counts each transaction id once (docs/cashback-files.md)."""

_EMPTY = 0


class _Recent:
    """The keys (64-bit hashes) of the latest ``size`` accepted lines, in two arrays allocated
    once: an open-addressing table at most half full, and the keys in arrival order (a ring),
    so that the oldest leaves when a new one comes. No object per key: a set of Python ints
    grew by ~100 bytes a line until the window filled."""

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        capacity = 1 << (2 * self._size - 1).bit_length()
        self._mask = capacity - 1
        self._slots = array("Q", bytes(8 * capacity))
        self._order = array("Q", bytes(8 * self._size))
        self._next = 0
        self._count = 0

    def _slot(self, key: int) -> int:
        """Where ``key`` is, or the empty slot where it would go."""
        slots, mask = self._slots, self._mask
        index = key & mask
        while (found := slots[index]) != _EMPTY and found != key:
            index = (index + 1) & mask
        return index

    def add(self, key: int) -> bool:
        """Remember ``key``; False if it is among the latest already."""
        key = key or 1  # 0 marks an empty slot
        index = self._slot(key)
        if self._slots[index] == key:
            return False
        if self._count == self._size:
            self._remove(self._order[self._next])
            index = self._slot(key)  # the removal may have moved the probe's path
        else:
            self._count += 1
        self._slots[index] = key
        self._order[self._next] = key
        self._next = (self._next + 1) % self._size
        return True

    def _remove(self, key: int) -> None:
        # Backward-shift deletion: the keys after the hole that may not stay past it move in.
        slots, mask = self._slots, self._mask
        hole = self._slot(key)
        probe = hole
        while True:
            probe = (probe + 1) & mask
            moved = slots[probe]
            if moved == _EMPTY:
                break
            home = moved & mask
            stays = (hole < home <= probe) if hole <= probe else (home > hole or home <= probe)
            if not stays:
                slots[hole] = moved
                hole = probe
        slots[hole] = _EMPTY


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


class Parties(Protocol):
    async def get(self, party_id: str) -> Party: ...


class Decryptor(Protocol):
    def decrypt(self, chunks: Any) -> Any:
        """An async iterator of plaintext blocks from one of ciphertext blocks."""
        ...


def record_id(container: str, name: str) -> str:
    # "/" may not appear in a Cosmos id
    return f"file:{container}:{name}"


class _Report:
    """The rejected lines, spooled to disk past a few MB, then stored next to the file."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.file.write(b"line;reason;detail\n")
        self.count = 0

    def add(self, reject: LineReject) -> None:
        detail = ", ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])) or 'line'}: {e.get('msg', '')}"
            for e in reject.errors
        )
        row = f"{reject.line};{reject.reason};{detail.replace(';', ',')}\n"
        self.file.write(row.encode("utf-8", "replace"))
        self.count += 1

    def note(self, text: str) -> None:
        self.file.write(f"0;FILE;{text.replace(';', ',')}\n".encode("utf-8", "replace"))


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
    ) -> None:
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
        return await self.process(party_id, container, name, received_at=event.event_time, now=now)

    async def process(
        self, party_id: str, container: str, name: str, *, received_at: datetime, now: datetime
    ) -> FileRecord:
        """Process ``name`` of ``party_id`` unless it was processed already."""
        record = await self._start(party_id, container, name, received_at)
        if record.status != "PROCESSING":
            return record  # done before: a redelivery, or the same name again
        with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as spool:
            report = _Report(spool)
            rights = await self._rights(party_id, name)
            if isinstance(rights, str):
                report.note(rights)
                record.status, record.reason = "REFUSED", rights
            else:
                try:
                    await self._lines(record, *rights, report)
                    record.status = "DONE"
                except (PermanentError, NotFound) as error:  # undecryptable, or gone
                    report.note(str(error))
                    record.status, record.reason = "FAILED", str(error)
            record.rejected = report.count
            record.report = name + REPORT_SUFFIX
            report.file.seek(0)
            await self._blobs.put(container, record.report, report.file)
        record.finished_at = now
        await self._finish(record)
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
    ) -> FileRecord:
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
        return FileRecord.model_validate(raw)

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
        self, record: FileRecord, parsed: FileName, acts_for: ActsFor, report: _Report
    ) -> None:
        seen = _Recent(self._window)
        group: list[TransactionIn] = []
        group_lines = self._send_chunks * CHUNK_LINES
        # One send in flight while the next lines are parsed: the broker's round trip no
        # longer stops the decryption, and memory holds two sends' lines at most.
        sending: asyncio.Task[None] | None = None
        plaintext = self._decryptor.decrypt(self._blobs.read(record.container, record.name))
        try:
            async for item in parse_stream(plaintext):
                record.lines += 1
                if isinstance(item, LineReject):
                    report.add(item)
                    continue
                reason = self._line_refusal(item, record, parsed, acts_for, seen)
                if reason is not None:
                    report.add(LineReject(item.line, reason))
                    continue
                record.accepted += 1
                group.append(item.transaction)
                if len(group) == group_lines:
                    messages = self._chunks(record, group)
                    group = []
                    if sending is not None:
                        await sending
                    sending = asyncio.create_task(self._send(messages))
        finally:
            # Never left behind: a file that fails midway still ends its send (or its error)
            # before the record says how the file ended.
            if sending is not None:
                await sending
        await self._send(self._chunks(record, group))

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
