"""Bulk uploads: up to 50,000 positions or 20 MB, as a JSON array or NDJSON, or as pagoPA's
upload file (``gpd-4-aca_massive_v2``: a ZIP of one JSON file, :mod:`shared.notices.upload`).
Both end in the same per-line report (a line of the file is an element of its list); an
uploaded file also has pagoPA's status and report (:meth:`Bulks.upload_status`,
:meth:`Bulks.upload_report`).

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
import base64
import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from shared.notices import rules
from shared.notices.access import authorize_write
from shared.notices.blobs import BlobMissing, BlobStore
from shared.notices.bulk_models import (
    BulkAccepted,
    BulkReport,
    ChunkTask,
    RejectedLine,
    UploadOperation,
)
from shared.notices.models import MAX_POSITIONS, MAX_UPLOAD_BYTES, PositionIn, accept
from shared.notices.service import NoticeArchive, Parties
from shared.notices.store import BULK_DOC_ID, BulkStore, Document, chunk_doc_id
from shared.notices.times import fixed_time
from shared.notices.upload import (
    ROME,
    Refused,
    elements,
    file_part,
    frame_file,
    gpd_time,
    iuv_to_delete,
    position_of,
    unzip,
)
from shared.parties.models import Party
from shared.parties.service import authorize_for_ec
from shared.platform.errors import (
    DomainError,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    PayloadTooLarge,
    PermanentError,
)
from shared.platform.messaging import Outgoing, Sender
from shared.platform.queue_work import retry_transient
from shared.platform.values import decode_json

logger = logging.getLogger(__name__)

BULK_ID = re.compile(r"[0-9a-f]{32}")
SUCCESS = {201: "Debt position CREATED", 200: "Debt position operation OK"}
"""pagoPA's upload report's messages for what was written (``pagopa-gpd-upload-function``)."""


class TooEarly(DomainError):
    """pagoPA's 425: the report of an upload that is not processed yet."""

    status = 425
    title = "Too Early"


_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Outcome:
    """How one line of an upload ended: ``reason`` None when it was written."""

    status: int
    reason: str | None = None
    iupd: str | None = None


@dataclass(frozen=True)
class Chunk:
    offset: int
    length: int
    first_line: int


@dataclass(frozen=True)
class Framed:
    """An upload as stored: NDJSON, its positions counted, cut into chunks of lines."""

    data: bytes
    positions: int
    chunks: list[Chunk]


def frame(raw: bytes, *, chunk_lines: int) -> Framed:
    """Find the lines of an upload (nothing is validated yet: bad lines are rejected later).

    A JSON array becomes NDJSON, one element per line (line N = element N). NDJSON is kept as
    it is; blank lines are skipped but counted, so line numbers are the file's.

    Raises:
        PayloadTooLarge: more than 20 MB or more than 50,000 positions.
        Invalid: (400) empty, or a JSON array that does not parse or holds what no field can
            take (a number beyond 64 bits or not finite, a NUL, a lone surrogate).
    """
    if len(raw) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"an upload is at most {MAX_UPLOAD_BYTES} bytes: split it")
    data = raw.removeprefix(_BOM)
    if data.lstrip()[:1] == b"[":
        data = _array_as_ndjson(data)
    lines = data.split(b"\n")
    chunks: list[Chunk] = []
    positions = 0
    offset = start = 0
    first_line = 1
    in_chunk = 0
    for number, line in enumerate(lines, start=1):
        if in_chunk == 0:
            start, first_line = offset, number
        offset += len(line) + 1
        if line.strip():
            positions += 1
            in_chunk += 1
            if in_chunk == chunk_lines:
                chunks.append(Chunk(start, min(offset, len(data)) - start, first_line))
                in_chunk = 0
    if in_chunk:
        chunks.append(Chunk(start, len(data) - start, first_line))
    if positions == 0:
        raise Invalid(
            "the upload has no positions: send a JSON array or NDJSON, one position per line"
        )
    if positions > MAX_POSITIONS:
        raise PayloadTooLarge(
            f"the upload has {positions} positions; at most {MAX_POSITIONS} per upload: split it"
        )
    return Framed(data, positions, chunks)


def _array_as_ndjson(data: bytes) -> bytes:
    # The whole array is checked before anything is stored: a number beyond 64 bits, a NaN, a
    # NUL or a lone surrogate anywhere refuses the upload (400) rather than failing later.
    try:
        items = decode_json(data)
    except Invalid as error:
        raise Invalid(
            f"the upload starts with '[' but is not a JSON array this archive can take: "
            f"{error.detail}"
        ) from None
    if not isinstance(items, list):  # pragma: no cover - '[' always parses to a list
        raise Invalid("the upload is not a JSON array")
    if len(items) > MAX_POSITIONS:
        raise PayloadTooLarge(
            f"the upload has {len(items)} positions; at most {MAX_POSITIONS} per upload: split it"
        )
    # An empty element (null, "") still takes its line, so line N is element N.
    encoded = [
        json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() for item in items
    ]
    return b"\n".join(encoded)


def reason_of(error: ValidationError) -> str:
    """One line naming every failing field (never the input itself)."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)


def reason_of_refusal(refusal: DomainError) -> str:
    """A refusal in one line: its failing fields when it names them, else its detail."""
    named = [e for e in refusal.errors if e.get("loc")]
    if not named:
        return refusal.detail
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in named)


LISTING_DAYS = 7
LISTING_RETENTION_DAYS = 60
"""pagoPA's upload service lists a week at most, within the last 60 days
(``pagopa-gpd-upload`` ``CheckUploadController``, ``CommonCheck``)."""


def listing_window(start: str | None, end: str | None, *, now: datetime) -> tuple[str, str]:
    """The [start, end) of a files listing in fixed-width UTC times: calendar days in
    Europe/Rome, ``end`` today and ``start`` six days before it when left out."""
    today = now.astimezone(ROME).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=LISTING_DAYS - 1)
    except ValueError:
        raise Invalid("Invalid 'from' or 'to' date. Expected format: YYYY-MM-DD") from None
    if first > last or (last - first).days + 1 > LISTING_DAYS:
        raise Invalid("Invalid range: ensure 1 <= (to - from + 1) <= 7 and from <= to")
    cutoff = today - timedelta(days=LISTING_RETENTION_DAYS)
    if last <= cutoff:
        raise Gone(
            f"Requested range [{first}, {last}] is older than the {LISTING_RETENTION_DAYS}-day "
            f"retention (cutoff {cutoff})"
        )
    if first < cutoff:
        raise Invalid(
            f"Requested 'from' ({first}) is older than the cutoff {cutoff}: use from >= {cutoff}"
        )
    begin = datetime.combine(first, time.min, ROME)
    finish = datetime.combine(last + timedelta(days=1), time.min, ROME)
    return fixed_time(begin), fixed_time(finish)


def listing_size(size: str | None) -> int:
    """Files per page: 100 when left out, 100-500 (400 otherwise)."""
    try:
        page = int(size) if size is not None else 100
    except ValueError:
        page = 0
    if not 100 <= page <= 500:
        raise Invalid("Invalid size: must be between 100 and 500 (default 100)")
    return page


def _token(last: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(f"{last[0]}|{last[1]}".encode()).decode()


def _after(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        received, _, bulk_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
    except (ValueError, UnicodeError):
        received, bulk_id = "", ""
    if not BULK_ID.fullmatch(bulk_id) or len(received) != 27:
        raise Invalid("x-continuation-token is not one this service gave")
    return received, bulk_id


def invalidation_of(stored: Document) -> PositionIn:
    """The write that invalidates a stored position (amount 0, its content otherwise)."""
    body: dict[str, Any] = {
        name: stored[name]
        for name in (
            "paFiscalCode",
            "entityType",
            "entityFiscalCode",
            "entityFullName",
            "iuv",
            "description",
            "switchToExpired",
            "payStandIn",
        )
    }
    body.update(amount=0, expirationDate=datetime.fromisoformat(stored["expirationDate"]))
    for name in ("nav", "iban", "postalIban"):
        if stored.get(name) is not None:
            body[name] = stored[name]
    return PositionIn.model_validate(body)


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
    ) -> None:
        self._archive = archive
        self._store = store
        self._blobs = blobs
        self._sender = sender
        self._parties = parties
        self._queue = queue
        self._chunk_lines = chunk_lines
        self._concurrency = concurrency

    # ------------------------------------------------------------------ submit
    async def submit(
        self,
        party: Party,
        raw: bytes,
        *,
        segregation_codes: Sequence[str] | None,
        now: datetime,
        report_url: str,
    ) -> BulkAccepted:
        """Store and fan out an upload; the positions are written by the queue's workers."""
        if len(raw) > MAX_UPLOAD_BYTES:  # before any work on it
            raise PayloadTooLarge(f"an upload is at most {MAX_UPLOAD_BYTES} bytes: split it")
        framed = await asyncio.to_thread(frame, raw, chunk_lines=self._chunk_lines)
        bulk_id = uuid.uuid4().hex
        blob = f"{now:%Y/%m/%d}/{bulk_id}.ndjson"
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
            )
            for i, c in enumerate(framed.chunks)
        ]
        received_at = fixed_time(now)
        await self._blobs.put(blob, framed.data)
        await self._sender.send(
            self._queue,
            [
                Outgoing.json(
                    f"notices-bulk:{bulk_id}:{t.chunk}", t.model_dump(mode="json", by_alias=True)
                )
                for t in tasks
            ],
        )
        await self._store.create_bulk(
            {
                "id": BULK_DOC_ID,
                "pk": bulk_id,
                "kind": "bulk",
                "bulkId": bulk_id,
                "partyId": party.party_id,
                "receivedAt": received_at,
                "blob": blob,
                "accepted": framed.positions,
                "chunks": len(tasks),
                "segregationCodes": list(segregation_codes) if segregation_codes else None,
            }
        )
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
        try:
            ec = await retry_transient(lambda: self._archive.ecs.get(position.pa_fiscal_code))
            authorize_write(party, position, task.segregation_codes)
            accept(position)
            write = rules.Write(
                position=position,
                key=rules.order_key(task.received_at, task.bulk_id, number),
                by=party.party_id,
                at=task.received_at,
                source=f"bulk {task.bulk_id} line {number}",
                company_name=ec.name,
                default_iban=ec.default_iban,
            )
            outcome, document = await retry_transient(
                lambda: self._archive.apply(write, assume_absent=position.amount > 0)
            )
        except DomainError as refusal:
            return Outcome(refusal.status, reason_of_refusal(refusal), position.iupd)
        if not rules.is_present(document):
            return Outcome(422, "amount 0 for a position that is not in the archive", position.iupd)
        # created by this very line: now, or before a crash (its redelivery changes nothing)
        created = outcome == "created" or document.get("first") == write.key
        return Outcome(201 if created else 200, None, position.iupd)

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
    ) -> str:
        """Store and fan out an uploaded file (pagoPA's multipart upload); returns its id.

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
            )
            for i, first in enumerate(range(0, len(spans), self._chunk_lines))
        ]
        await self._blobs.put(blob, content)
        del content
        await self._sender.send(
            self._queue,
            [
                Outgoing.json(
                    f"notices-bulk:{bulk_id}:{t.chunk}", t.model_dump(mode="json", by_alias=True)
                )
                for t in tasks
            ],
        )
        await self._store.create_bulk(
            {
                "id": BULK_DOC_ID,
                "pk": bulk_id,
                "kind": "bulk",
                "bulkId": bulk_id,
                "partyId": party.party_id,
                "receivedAt": fixed_time(now),
                "blob": blob,
                "accepted": len(spans),
                "chunks": len(tasks),
                "segregationCodes": None,
                "format": "gpd",
                "operation": operation,
                "broker": broker,
                "organization": organization,
            }
        )
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

    async def _upload(
        self, party: Party, broker: str, organization: str, file_id: str
    ) -> tuple[Document, list[Document]]:
        """An uploaded file's bulk and its finished chunks, for its broker only."""
        if party.party_id != broker:
            raise Forbidden(f"the key is not the one of broker {broker!r}")
        bulk = await self._store.get_bulk(file_id) if BULK_ID.fullmatch(file_id) else None
        if (
            bulk is None
            or bulk.get("format") != "gpd"
            or (bulk.get("broker"), bulk.get("organization")) != (broker, organization)
        ):
            raise NotFound(f"Upload {file_id!r} not found for broker {broker} and {organization}")
        if bulk["partyId"] != party.party_id:
            raise Forbidden(f"upload {file_id} was submitted by another party")
        return bulk, await self._store.chunks(file_id)

    async def upload_status(
        self, party: Party, *, broker: str, organization: str, file_id: str
    ) -> dict[str, Any]:
        """pagoPA's ``UploadStatus`` of an uploaded file."""
        bulk, chunks = await self._upload(party, broker, organization, file_id)
        processed = sum(int(c["lines"]) for c in chunks)
        submitted = int(bulk["accepted"])
        if len(chunks) < int(bulk["chunks"]):
            status = "IN_PROGRESS"
        elif all(c["written"] == 0 for c in chunks):
            status = "COMPLETED_UNSUCCESSFULLY"
        elif any(c["rejected"] for c in chunks):
            status = "COMPLETED_WITH_WARNINGS"
        else:
            status = "COMPLETED"
        return {
            "fileId": file_id,
            "processedItem": processed,
            "submittedItem": submitted,
            "startTime": gpd_time(datetime.fromisoformat(bulk["receivedAt"]), milliseconds=False),
            "operationStatus": status,
        }

    async def upload_report(
        self, party: Party, *, broker: str, organization: str, file_id: str
    ) -> dict[str, Any]:
        """pagoPA's ``UploadReport`` of an uploaded file: its items grouped by status and
        message, each group with its IUPDs. TooEarly (425) until every chunk is done."""
        bulk, chunks = await self._upload(party, broker, organization, file_id)
        if len(chunks) < int(bulk["chunks"]):
            raise TooEarly(
                "The report has not been generated yet, wait for the operations to complete."
            )
        groups: dict[tuple[int, str], list[str]] = {}
        for chunk in sorted(chunks, key=lambda c: int(c["chunk"])):
            for code, message in SUCCESS.items():
                written = (chunk.get("ok") or {}).get(str(code)) or []
                if written:
                    groups.setdefault((code, message), []).extend(written)
            for line in chunk["rejected"]:
                key = (int(line.get("status") or 400), str(line["reason"]))
                groups.setdefault(key, []).append(line.get("iupd") or f"(element {line['line']})")
        ended = max(datetime.fromisoformat(c["at"]) for c in chunks)
        return {
            "fileId": file_id,
            "processedItem": sum(int(c["lines"]) for c in chunks),
            "submittedItem": int(bulk["accepted"]),
            "responses": [
                {"statusCode": code, "statusMessage": message, "iupds": iupds}
                for (code, message), iupds in groups.items()
            ],
            "startTime": gpd_time(datetime.fromisoformat(bulk["receivedAt"]), milliseconds=True),
            "endTime": gpd_time(ended, milliseconds=True),
        }

    async def upload_list(
        self,
        party: Party,
        *,
        broker: str,
        organization: str,
        start: str | None,
        end: str | None,
        size: str | None,
        continuation: str | None,
        now: datetime,
    ) -> tuple[dict[str, Any], str | None]:
        """pagoPA's list of the file ids ``broker`` uploaded for ``organization`` from ``start``
        to ``end`` (calendar days in Europe/Rome, at most 7, within the last 60), ``size`` per
        page (100-500), and the continuation token of the next page (None: the last one).

        Raises:
            Forbidden: (403) the key is not the broker's.
            Invalid: (400) a malformed date, range, size or token, or a range reaching past the
                60 days kept.
            Gone: (410) a range wholly older than that.
        """
        if party.party_id != broker:
            raise Forbidden(f"the key is not the one of broker {broker!r}")
        window = listing_window(start, end, now=now)
        page = listing_size(size)
        after = _after(continuation)
        found = await self._store.uploads(broker, organization, *window)
        ordered = sorted(
            (str(d["receivedAt"]), str(d["bulkId"]))
            for d in found
            if after is None or (str(d["receivedAt"]), str(d["bulkId"])) > after
        )
        shown, more = ordered[:page], len(ordered) > page
        token = _token(shown[-1]) if more else None
        return {
            "fileIds": [bulk_id for _, bulk_id in shown],
            "size": len(shown),
            "hasMore": more,
        }, token

    # ------------------------------------------------------------------ report
    async def report(self, bulk_id: str, *, party: Party | None) -> BulkReport:
        """Where a bulk stands; for the party that submitted it (``None``: an operator)."""
        if not BULK_ID.fullmatch(bulk_id):
            raise Invalid(
                "a bulk id is 32 hexadecimal characters",
                errors=[
                    {
                        "loc": ["path", "id"],
                        "type": "pattern",
                        "msg": "32 lowercase hexadecimal characters",
                    }
                ],
            )
        bulk = await self._store.get_bulk(bulk_id)
        if bulk is None:
            raise NotFound(f"no bulk {bulk_id}")
        if party is not None and party.party_id != bulk["partyId"]:
            raise Forbidden(f"bulk {bulk_id} was submitted by another party")
        chunks = await self._store.chunks(bulk_id)
        written = sum(int(c["written"]) for c in chunks)
        rejected: list[dict[str, Any]] = sorted(
            (r for c in chunks for r in c["rejected"]), key=lambda r: int(r["line"])
        )
        pending = int(bulk["accepted"]) - written - len(rejected)
        return BulkReport(
            bulk_id=bulk_id,
            party_id=bulk["partyId"],
            status="COMPLETED" if len(chunks) >= int(bulk["chunks"]) else "PROCESSING",
            received_at=datetime.fromisoformat(bulk["receivedAt"]),
            accepted=int(bulk["accepted"]),
            written=written,
            rejected=len(rejected),
            pending=max(0, pending),
            chunks=int(bulk["chunks"]),
            chunks_done=len(chunks),
            rejected_lines=[RejectedLine.model_validate(r) for r in rejected],
        )
