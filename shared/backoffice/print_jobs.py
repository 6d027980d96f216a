"""Batches of paper notices as jobs: the request is checked and queued, a queue worker renders
the PDF part by part into a blob, and the status answers with a short-lived link to it.

Why a job: a Python function's HTTP response is one ``bytes`` body, so a 1,000-notice PDF
returned from the route is held whole by the worker. As a job, the worker stages each part of
:data:`~shared.documents.notice_pdf.PAGES_PER_PART` notices as one block of the blob as soon as
it is rendered, and commits the block list at the end: its memory is bounded by a part, not by
the batch (docs/backoffice.md, "Paper notices").

Idempotent: the job's id is its message's id (duplicate detection) and names its blobs; the
blocks' ids are the parts' numbers, so a redelivery after a crash mid-render stages the same
blocks again and commits only its own list (a block staged and never committed is discarded by
the service). A done or failed job is not rendered again. A refusal (the user lost access, the
search now holds more than 1,000 or no VALID position) ends the job as failed with its reason
and the message as failed work.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.backoffice.principal import Principal
from shared.backoffice.printing import NoticePrinter
from shared.backoffice.service import BackOffice
from shared.notices.models import Status
from shared.notices.search import PositionFilter
from shared.platform.errors import DomainError, NotFound, PermanentError
from shared.platform.messaging import Outgoing, Sender

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
STALE_AFTER = timedelta(minutes=30)
"""A job still queued this long after its request is reported failed: its message ran out of
deliveries (failed work records why) or was never taken."""
READ_URL_MINUTES = 15
"""How long the link of a done job reads its PDF."""

JobState = Literal["queued", "done", "failed"]


class JobFilter(BaseModel):
    """The search's filters, as the job keeps them."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    iuv: str | None = None
    nav: str | None = None
    debtor: str | None = None
    status: Status | None = None
    due_from: date | None = Field(default=None, alias="dueFrom")
    due_to: date | None = Field(default=None, alias="dueTo")

    @classmethod
    def of(cls, where: PositionFilter) -> JobFilter:
        return cls.model_validate(asdict(where))

    def position_filter(self) -> PositionFilter:
        return PositionFilter(**self.model_dump())


class PrintJob(BaseModel):
    """A batch's job as stored (a small JSON blob beside its PDF)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    id: str = Field(pattern=JOB_ID.pattern)
    ec: str
    object_id: str = Field(alias="objectId")
    where: JobFilter
    notices: int = Field(description="VALID positions when the job was asked for.")
    state: JobState
    created_at: datetime = Field(alias="createdAt")
    ended_at: datetime | None = Field(default=None, alias="endedAt")
    pages: int | None = None
    reason: str | None = None


class PrintJobOut(BaseModel):
    """A batch's job as the back office reads it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    state: JobState
    notices: int = Field(description="VALID positions found when the job was asked for.")
    pages: int | None = Field(default=None, description="Pages printed, once done.")
    reason: str | None = Field(default=None, description="Why it failed.")
    url: str | None = Field(
        default=None,
        description=f"Once done: the PDF, readable for {READ_URL_MINUTES} minutes from this "
        "answer (a shared access signature).",
    )
    created_at: datetime = Field(alias="createdAt")


class JobMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    job_id: str = Field(alias="jobId", pattern=JOB_ID.pattern)


class PrintJobStore(Protocol):
    """Where jobs and their PDFs live (a Blob container)."""

    async def save(self, job: PrintJob) -> None:
        """Store the job's state (replacing it)."""
        ...

    async def load(self, job_id: str) -> PrintJob | None:
        """The job's state; None if there is no such job."""
        ...

    async def stage(self, job_id: str, part: int, data: bytes) -> None:
        """Stage ``data`` as block ``part`` of the job's PDF (a block staged again replaces)."""
        ...

    async def commit(self, job_id: str, parts: int, filename: str) -> None:
        """Make blocks ``0 .. parts - 1`` the job's PDF, downloaded as ``filename``."""
        ...

    async def read_url(self, job_id: str, *, now: datetime, minutes: int) -> str:
        """A URL reading the job's PDF for ``minutes``."""
        ...


class PrintJobs:
    """Ask for a batch, read its job, and (the queue worker) render it."""

    def __init__(
        self,
        office: BackOffice,
        printer: NoticePrinter,
        store: PrintJobStore,
        sender: Sender,
        queue: str,
    ) -> None:
        self._office = office
        self._printer = printer
        self._store = store
        self._sender = sender
        self._queue = queue

    async def submit(
        self, principal: Principal, ec: str, where: PositionFilter, *, now: datetime
    ) -> PrintJobOut:
        """Check the batch as the route did (roles, at most 1,000, some VALID: 403, 422) and
        queue it."""
        count = await self._printer.check(principal, ec, where, now=now)
        job = PrintJob(
            id=uuid.uuid4().hex,
            ec=ec,
            object_id=principal.object_id,
            where=JobFilter.of(where),
            notices=count,
            state="queued",
            created_at=now,
        )
        await self._store.save(job)
        message = Outgoing.json(job.id, JobMessage(job_id=job.id).model_dump(by_alias=True))
        await self._sender.send(self._queue, [message])
        return _out(job, None)

    async def status(
        self, principal: Principal, ec: str, job_id: str, *, now: datetime
    ) -> PrintJobOut:
        """The job (any user of its EC); NotFound for another EC's or an unknown job."""
        (await self._office.user(principal)).role_for(ec)
        job = await self._store.load(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None or job.ec != ec:
            raise NotFound(f"no print job {job_id!r} for {ec}")
        if job.state == "queued" and now - job.created_at > STALE_AFTER:
            job = job.model_copy(
                update={"state": "failed", "reason": "not rendered in time: ask again"}
            )
        url = None
        if job.state == "done":
            url = await self._store.read_url(job.id, now=now, minutes=READ_URL_MINUTES)
        return _out(job, url)

    async def render(self, body: bytes, *, now: datetime) -> None:
        """The queue worker: render the job's PDF into its blob, a block per part."""
        try:
            job_id = JobMessage.model_validate_json(body).job_id
        except ValidationError as error:
            raise PermanentError(f"not a print job message: {error}") from None
        job = await self._store.load(job_id)
        if job is None:
            raise PermanentError(f"no print job {job_id}")
        if job.state != "queued":
            return  # a duplicate delivery of a job that ended
        principal = Principal(object_id=job.object_id, name=None)
        parts = pages = 0
        try:
            async for data, written in self._printer.parts(
                principal, job.ec, job.where.position_filter(), now=now
            ):
                await self._store.stage(job.id, parts, data)
                parts, pages = parts + 1, written
        except DomainError as refused:  # no longer allowed, or the search changed meanwhile
            ended = {"state": "failed", "reason": refused.detail, "ended_at": now}
            await self._store.save(job.model_copy(update=ended))
            raise PermanentError(f"print job {job.id}: {refused.detail}") from None
        await self._store.commit(job.id, parts, f"avvisi-{job.ec}.pdf")
        await self._store.save(
            job.model_copy(update={"state": "done", "pages": pages, "ended_at": now})
        )


def _out(job: PrintJob, url: str | None) -> PrintJobOut:
    return PrintJobOut(
        id=job.id,
        state=job.state,
        notices=job.notices,
        pages=job.pages,
        reason=job.reason,
        url=url,
        created_at=job.created_at,
    )
