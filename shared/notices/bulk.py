"""Bulk uploads: up to 50,000 positions or 20 MB, as a JSON array or NDJSON, or as pagoPA's
upload file (``gpd-4-aca_massive_v2``: a ZIP of one JSON file, :mod:`shared.notices.upload`).
Both end in the same per-line report (a line of the file is an element of its list); an
uploaded file also has pagoPA's status, report and file list (:attr:`Bulks.files`, from
:mod:`shared.notices.files`). Lines are framed by :mod:`shared.notices.framing`.

Submitting (HTTP, 202): the upload is framed (its lines found and counted, nothing validated),
stored once in Blob storage as NDJSON, and fanned out to the ``NOTICES_QUEUE`` queue as one
message per chunk of lines (a byte range of the stored upload, ``message_id`` =
``notices-bulk:<bulk>:<chunk>``); then the bulk's document is created and its id returned. A
failure before that answers 503 and the EC sends again: the lines of a copy that was partly
fanned out only ever write the same content, which changes nothing.

An uploaded file is stored as it came (its JSON, unzipped): a chunk is the byte range of a run
of its list's elements, found without building the list.

Processing (queue): a chunk's lines are validated, authorized and written through
:meth:`NoticeArchive.apply`, whose order key (the upload's time, the bulk, the line) makes a
redelivered chunk write nothing twice. The chunk's result (written count, rejected lines with
reasons) is created once, after its lines; a chunk whose result exists is skipped. So a host
that dies midway leaves messages that are redelivered, and the bulk completes with every valid
position written exactly once and counted once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.notices import rules
from shared.notices.access import authorize_write
from shared.notices.blobs import BlobMissing, BlobStore
from shared.notices.bulk_journal import (
    UploadNote,
    aca_note,
    counts_by_ec,
    ecs_named,
    journal_of,
    stamp,
    tell_if_finished,
)
from shared.notices.bulk_models import (
    SUCCESS,
    BulkAccepted,
    BulkReport,
    ChunkTask,
    UploadJournal,
    UploadOperation,
)
from shared.notices.bulk_report import bulk_report
from shared.notices.events import Publisher
from shared.notices.files import UploadedFiles
from shared.notices.framing import frame, reason_of, reason_of_refusal
from shared.notices.models import MAX_UPLOAD_BYTES, PositionIn, accept
from shared.notices.service import NoticeArchive, Parties
from shared.notices.store import BulkStore, bulk_document, chunk_doc_id
from shared.notices.times import fixed_time
from shared.notices.upload import (
    Refused,
    elements,
    file_part,
    frame_file,
    invalidation_of,
    iuv_to_delete,
    position_of,
    unzip,
)
from shared.parties.models import Party
from shared.parties.service import authorize_for_ec
from shared.platform.errors import (
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
    PermanentError,
)
from shared.platform.messaging import Outgoing, Sender
from shared.platform.queue_work import retry_transient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one line of an upload ended: ``reason`` None when it was written."""

    status: int
    reason: str | None = None
    iupd: str | None = None
    ec: str | None = None
    """The EC the line's position names (None: the line could not be read)."""


class Bulks:
    """Bulk uploads of positions, on the archive, the bulk store, blobs and the queue."""

    def __init__(
        self,
        archive: NoticeArchive,
        store: BulkStore,
        blobs: BlobStore,
        sender: Sender,
        parties: Parties,
        *,
        queue: str,
        chunk_lines: int,
        concurrency: int,
        journal: tuple[str, Publisher] | None = None,
    ) -> None:
        """``journal``: the journal's queue and the publisher of the bulks' outboxes, to tell
        an EC's journal of its back-office uploads (:mod:`shared.notices.bulk_journal`)."""
        self._archive = archive
        self._store = store
        self._blobs = blobs
        self._sender = sender
        self._parties = parties
        self._queue = queue
        self._chunk_lines = chunk_lines
        self._concurrency = concurrency
        self._journal = journal
        self.files = UploadedFiles(store)
        """pagoPA's status, report and list of uploaded files."""

    # ------------------------------------------------------------------ submit
    async def submit(
        self,
        party: Party,
        raw: bytes,
        *,
        segregation_codes: Sequence[str] | None,
        now: datetime,
        report_url: str,
        note: UploadNote | None = None,
        from_: str | None = None,
    ) -> BulkAccepted:
        """Store and fan out an upload; the positions are written by the queue's workers.
        ``note``: a back-office upload, which its EC's journal records; without one, the
        upload is the party's own (the ACA contract, called from ``from_``), recorded in the
        journal of each EC whose positions it holds (:mod:`shared.notices.bulk_journal`)."""
        if len(raw) > MAX_UPLOAD_BYTES:  # before any work on it
            raise PayloadTooLarge(f"an upload is at most {MAX_UPLOAD_BYTES} bytes: split it")
        framed = await asyncio.to_thread(frame, raw, chunk_lines=self._chunk_lines)
        if note is None and self._journal is not None:
            ecs = await asyncio.to_thread(ecs_named, framed.data, party)
            note = aca_note(party, ecs, from_=from_, file_name=None)
        bulk_id = uuid.uuid4().hex
        blob = f"{now:%Y/%m/%d}/{bulk_id}.ndjson"
        queue = self._journal[0] if note is not None and self._journal is not None else None
        journal = journal_of(note, framed.positions, len(framed.chunks)) if note and queue else None
        # everything is built (and so validated) before the first write
        tasks = [
            ChunkTask(
                bulk_id=bulk_id,
                chunk=i,
                blob=blob,
                offset=c.offset,
                length=c.length,
                first_line=c.first_line,
                received_at=now,
                party_id=party.party_id,
                segregation_codes=list(segregation_codes)
                if segregation_codes is not None
                else None,
                journal=journal,
            )
            for i, c in enumerate(framed.chunks)
        ]
        await self._blobs.put(blob, framed.data)
        await self._fan_out(tasks)
        codes = list(segregation_codes) if segregation_codes else None
        bulk = bulk_document(bulk_id, party.party_id, blob, framed.positions, len(tasks), now)
        await self._create(bulk | {"segregationCodes": codes}, note, journal, now=now)
        logger.info(
            "bulk %s of %s: %d positions in %d chunks",
            bulk_id,
            party.party_id,
            framed.positions,
            len(tasks),
        )
        return BulkAccepted(
            bulk_id=bulk_id,
            accepted=framed.positions,
            chunks=len(tasks),
            received_at=now,
            report=report_url.format(bulk_id=bulk_id),
        )

    async def _fan_out(self, tasks: list[ChunkTask]) -> None:
        messages = [
            Outgoing.json(
                f"notices-bulk:{t.bulk_id}:{t.chunk}", t.model_dump(mode="json", by_alias=True)
            )
            for t in tasks
        ]
        await self._sender.send(self._queue, messages)

    # ------------------------------------------------------------------ process
    async def process_message(self, body: bytes, *, now: datetime) -> None:
        """The queue's work: one chunk. PermanentError if the message is not a chunk."""
        try:
            task = ChunkTask.model_validate_json(body)
        except ValidationError as error:
            raise PermanentError(f"not a bulk chunk: {reason_of(error)}") from None
        await self.process(task, now=now)

    async def process(self, task: ChunkTask, *, now: datetime) -> None:
        """Write a chunk's lines and record its result, once."""
        if await retry_transient(lambda: self._store.chunk_done(task.bulk_id, task.chunk)):
            await self._tell_if_finished(task, now=now)  # a crash may have come before it
            return
        try:
            data = await retry_transient(
                lambda: self._blobs.get_range(task.blob, task.offset, task.length)
            )
        except BlobMissing:
            raise PermanentError(f"the upload {task.blob} of bulk {task.bulk_id} is gone") from None
        party: Party | None
        try:
            party = await retry_transient(lambda: self._parties.get(task.party_id))
        except NotFound:
            party = None
        if task.format == "gpd":
            try:
                lines = list(enumerate(elements(data), start=task.first_line))
            except ValueError as error:  # the range was framed: it can only be another blob
                raise PermanentError(f"bulk {task.bulk_id} chunk {task.chunk}: {error}") from None
        else:
            lines = [
                (number, raw)
                for number, raw in enumerate(data.split(b"\n"), start=task.first_line)
                if raw.strip()
            ]
        todo = iter(lines)
        outcomes: dict[int, Outcome] = {}

        async def worker() -> None:  # a few workers pulling lines: no task per line
            for number, raw in todo:
                outcomes[number] = await self._line(task, party, number, raw)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self._concurrency, len(lines))):
                    group.create_task(worker())
        except ExceptionGroup as failures:  # the rest were cancelled: the chunk is redelivered
            raise failures.exceptions[0] from None
        rejected = [
            {"line": n, "reason": o.reason, "status": o.status, "iupd": o.iupd}
            for n, o in sorted(outcomes.items())
            if o.reason is not None
        ]
        result: dict[str, Any] = {
            "id": chunk_doc_id(task.chunk),
            "pk": task.bulk_id,
            "kind": "chunk",
            "chunk": task.chunk,
            "lines": len(outcomes),
            "written": len(outcomes) - len(rejected),
            "rejected": rejected,
            "at": fixed_time(now),
        }
        if task.journal is not None and task.journal.others:  # each EC's journal, its counts
            result["byEc"] = counts_by_ec(task.journal, outcomes.values())
        if task.format == "gpd":  # pagoPA's report lists what was written too, by IUPD
            result["ok"] = {
                str(code): [
                    o.iupd
                    for _, o in sorted(outcomes.items())
                    if o.reason is None and o.status == code
                ]
                for code in SUCCESS
            }
        await retry_transient(lambda: self._store.record_chunk(result))
        await self._tell_if_finished(task, now=now)

    async def _tell_if_finished(self, task: ChunkTask, *, now: datetime) -> None:
        if self._journal is not None:
            await tell_if_finished(task, self._store, self._sender, self._journal[0], now=now)

    async def _line(self, task: ChunkTask, party: Party | None, number: int, raw: bytes) -> Outcome:
        """How the line ends: written (its HTTP-like status and IUPD), or why it is not."""
        if party is None:
            return Outcome(403, f"the submitting party {task.party_id} is no longer registered")
        if task.format == "gpd":
            return await self._element(task, party, number, raw)
        try:
            position = PositionIn.from_json(raw)
        except ValidationError as error:
            return Outcome(400, reason_of(error))
        except Invalid as error:
            return Outcome(400, error.detail)
        return await self.write(task, party, number, position)

    async def _element(self, task: ChunkTask, party: Party, number: int, raw: bytes) -> Outcome:
        """One element of an uploaded file's list: a position to write, or an IUPD to
        invalidate."""
        organization = task.pa_fiscal_code or ""
        try:
            if task.operation == "upsert":
                return await self.write(task, party, number, position_of(raw, organization))
            iupd, iuv = iuv_to_delete(raw, organization)
        except Refused as refused:
            return Outcome(refused.status, refused.reason, refused.iupd)
        stored = await retry_transient(lambda: self._archive.stored(organization, iuv))
        if not rules.is_present(stored):
            return Outcome(404, "Debt position NOT FOUND", iupd)
        assert stored is not None
        return await self.write(task, party, number, invalidation_of(stored))

    async def write(
        self, task: ChunkTask, party: Party, number: int, position: PositionIn
    ) -> Outcome:
        """Write one position of an upload as ``paCreatePosition`` would (the same checks, the
        same statuses), ordered by the upload's time and its line."""
        ec = position.pa_fiscal_code
        try:
            found = await retry_transient(lambda: self._archive.ecs.get(ec))
            authorize_write(party, position, task.segregation_codes)
            accept(position)
            write = rules.Write(
                position=position,
                key=rules.order_key(task.received_at, task.bulk_id, number),
                by=party.party_id,
                at=task.received_at,
                source=f"bulk {task.bulk_id} line {number}",
                company_name=found.name,
                default_iban=found.default_iban,
            )
            outcome, document = await retry_transient(
                lambda: self._archive.apply(write, assume_absent=position.amount > 0)
            )
        except DomainError as refusal:
            return Outcome(refusal.status, reason_of_refusal(refusal), position.iupd, ec)
        if not rules.is_present(document):
            reason = "amount 0 for a position that is not in the archive"
            return Outcome(422, reason, position.iupd, ec)
        # created by this very line: now, or before a crash (its redelivery changes nothing)
        created = outcome == "created" or document.get("first") == write.key
        return Outcome(201 if created else 200, None, position.iupd, ec)

    async def _create(
        self,
        bulk: dict[str, Any],
        note: UploadNote | None,
        journal: UploadJournal | None,
        *,
        now: datetime,
    ) -> None:
        """Create the upload's document with the journal's start in its outbox, then hand the
        start to the journal's publisher (the outbox's sweep sends it if this process dies)."""
        queue = self._journal[0] if self._journal is not None else None
        events = (
            stamp(bulk, note, journal, queue=queue, now=now) if note and journal and queue else []
        )
        await self._store.create_bulk(bulk)
        if events and self._journal is not None:
            self._journal[1].publish_soon(bulk, only=events)

    # ------------------------------------------------------------------ uploaded files
    async def submit_file(
        self,
        party: Party,
        *,
        broker: str,
        organization: str,
        operation: UploadOperation,
        content_type: str | None,
        body: bytes,
        now: datetime,
        from_: str | None = None,
    ) -> str:
        """Store and fan out an uploaded file (pagoPA's multipart upload); returns its id. The
        organization's journal records it (the broker as who, called from ``from_``).

        Raises:
            Forbidden: (403) the key is not the broker's, or the broker may not act for the EC.
            Invalid: (400) not the upload's multipart body, ZIP or JSON.
            PayloadTooLarge: (413) past the upload's limits.
        """
        if party.party_id != broker:
            raise Forbidden(f"the key is not the one of broker {broker!r}")
        authorize_for_ec(party, organization)
        filename, archive = file_part(body, content_type)
        content = await asyncio.to_thread(unzip, filename, archive)
        del archive
        framed = await asyncio.to_thread(frame_file, content, operation)
        bulk_id = uuid.uuid4().hex
        blob = f"{now:%Y/%m/%d}/{bulk_id}.json"
        spans = framed.spans
        starts = range(0, len(spans), self._chunk_lines)
        note = aca_note(party, [organization], from_=from_, file_name=filename)
        queue = self._journal[0] if note is not None and self._journal is not None else None
        journal = journal_of(note, len(spans), len(starts)) if note and queue else None
        tasks = [
            ChunkTask(
                bulk_id=bulk_id,
                chunk=i,
                blob=blob,
                offset=spans[first][0],
                length=spans[min(first + self._chunk_lines, len(spans)) - 1][1] - spans[first][0],
                first_line=first + 1,
                received_at=now,
                party_id=party.party_id,
                format="gpd",
                operation=operation,
                pa_fiscal_code=organization,
                journal=journal,
            )
            for i, first in enumerate(starts)
        ]
        await self._blobs.put(blob, content)
        del content
        await self._fan_out(tasks)
        bulk = bulk_document(bulk_id, party.party_id, blob, len(spans), len(tasks), now)
        file = {
            "format": "gpd",
            "operation": operation,
            "broker": broker,
            "organization": organization,
        }
        await self._create(bulk | file, note, journal, now=now)
        logger.info(
            "file %s of %s for %s: %d %s in %d chunks",
            bulk_id,
            broker,
            organization,
            len(spans),
            operation,
            len(tasks),
        )
        return bulk_id

    # ------------------------------------------------------------------ report
    async def report(self, bulk_id: str, *, party: Party | None) -> BulkReport:
        """Where a bulk stands; for the party that submitted it (``None``: an operator)."""
        return await bulk_report(self._store, bulk_id, party=party)
