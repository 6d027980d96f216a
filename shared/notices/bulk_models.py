"""The models of bulk uploads: what a submission answers, the queue message of one chunk, the
per-line report both upload formats end in, and pagoPA's status, report and file list of an
uploaded file (``pagopa-gpd-upload``; docs/aca-contract.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictInt,
    model_serializer,
)

from shared.notices.models import MAX_FILE_CONTENT_BYTES, MAX_POSITIONS, SEGREGATION_CODE
from shared.notices.times import StoredTime
from shared.parties.models import PARTY_ID
from shared.platform.values import BoundedDateTime, SafeText

BULK_ID = re.compile(r"[0-9a-f]{32}")
MAX_UPLOAD_ECS = 1000
"""The ECs' journals one upload is recorded in at most (an intermediary's: docs/journal.md)."""
SUCCESS = {201: "Debt position CREATED", 200: "Debt position operation OK"}
"""pagoPA's upload report's messages for what was written (``pagopa-gpd-upload-function``)."""


class BulkAccepted(BaseModel):
    """202 to a bulk upload: the id to follow it by."""

    model_config = ConfigDict(populate_by_name=True)

    bulk_id: str = Field(alias="bulkId")
    accepted: int = Field(description="Positions (non-blank lines) in the upload.")
    chunks: int = Field(description="Batches the work was split into.")
    received_at: StoredTime = Field(alias="receivedAt")
    report: str = Field(description="Where to read the report (GET).")


class RejectedLine(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    line: int = Field(
        description="1-based: the NDJSON line, the JSON array's element, or the position in "
        "the uploaded file's list."
    )
    reason: str
    status: int | None = Field(
        default=None, description="The HTTP status the same position would get on its own."
    )
    iupd: str | None = Field(default=None, description="The position's IUPD, when readable.")


class BulkReport(BaseModel):
    """Where a bulk upload stands."""

    model_config = ConfigDict(populate_by_name=True)

    bulk_id: str = Field(alias="bulkId")
    party_id: str = Field(alias="partyId")
    status: Literal["PROCESSING", "COMPLETED"]
    received_at: StoredTime = Field(alias="receivedAt")
    accepted: int = Field(description="Positions in the upload.")
    written: int = Field(
        description="Positions now in the archive as the line says (or "
        "superseded by a newer write)."
    )
    rejected: int = Field(description="Lines refused; each is in rejectedLines.")
    pending: int = Field(description="Lines not processed yet.")
    chunks: int
    chunks_done: int = Field(alias="chunksDone")
    rejected_lines: list[RejectedLine] = Field(alias="rejectedLines")


UploadFormat = Literal["ndjson", "gpd"]
"""How a stored upload is written: NDJSON (one position per line), or pagoPA's upload file (the
JSON of ``gpd-4-aca_massive_v2``: a list of GPD payment positions, or of IUPDs to delete)."""
UploadOperation = Literal["upsert", "delete"]


class UploadActor(BaseModel):
    """Who uploaded a file from the back office, and from where (for the EC's journal)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    object_id: SafeText = Field(alias="objectId", min_length=1, max_length=100)
    name: SafeText | None = Field(default=None, max_length=200)
    from_: SafeText | None = Field(default=None, alias="from", max_length=64)


class UploadJournal(BaseModel):
    """What a chunk of a back-office upload carries so that the chunk that completes the
    upload can tell the EC's journal (docs/journal.md): the EC, the file, its size."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ec: str = Field(pattern=r"^[0-9]{11}$")
    others: list[Annotated[str, Field(pattern=r"^[0-9]{11}$")]] = Field(
        default_factory=list, max_length=MAX_UPLOAD_ECS
    )
    """The other ECs whose positions an intermediary's upload holds (their journals too)."""
    file_name: SafeText | None = Field(default=None, alias="fileName", max_length=255)
    lines: StrictInt = Field(ge=0, le=MAX_POSITIONS)
    chunks: StrictInt = Field(ge=1, le=MAX_POSITIONS)

    @model_serializer(mode="wrap")
    def _others_only_when_some(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A one-EC upload's chunk is what it was before intermediaries were journaled: a
        # consumer still on the earlier code (extra="forbid") takes it during a deployment.
        dumped = handler(self)
        if isinstance(dumped, dict) and not self.others:
            dumped.pop("others", None)
        return dumped


class ChunkTask(BaseModel):
    """The queue message of one batch of a bulk upload: a byte range of the stored upload.

    Read from a queue, so bounded like a request: a message out of these bounds is permanent
    failed work, never arithmetic on a date or a number nobody sent."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    bulk_id: str = Field(alias="bulkId", pattern=r"^[0-9a-f]{32}$")
    chunk: StrictInt = Field(ge=0, le=MAX_POSITIONS)
    blob: SafeText = Field(min_length=1, max_length=1024)  # Blob storage's limit on a name
    offset: StrictInt = Field(ge=0, le=MAX_FILE_CONTENT_BYTES)
    length: StrictInt = Field(ge=0, le=MAX_FILE_CONTENT_BYTES)
    first_line: StrictInt = Field(alias="firstLine", ge=1, le=MAX_FILE_CONTENT_BYTES + 1)
    received_at: BoundedDateTime = Field(alias="receivedAt")
    party_id: str = Field(alias="partyId", pattern=PARTY_ID)
    segregation_codes: list[Annotated[str, Field(pattern=SEGREGATION_CODE)]] | None = Field(
        default=None, alias="segregationCodes", max_length=100
    )
    format: UploadFormat = "ndjson"
    operation: UploadOperation = "upsert"
    pa_fiscal_code: str | None = Field(
        default=None,
        alias="paFiscalCode",
        pattern=PARTY_ID,
        description="The EC an uploaded file is for (pagoPA's upload names it in its path).",
    )
    journal: UploadJournal | None = Field(
        default=None, description="A back-office upload: what its EC's journal is told."
    )


class UploadStatus(BaseModel):
    """pagoPA's ``UploadStatusDTO`` of an uploaded file (``pagopa-gpd-upload``)."""

    model_config = ConfigDict(populate_by_name=True)

    file_id: str = Field(alias="fileId")
    processed_item: int = Field(alias="processedItem", description="Positions processed.")
    submitted_item: int = Field(alias="submittedItem", description="Positions in the file.")
    start_time: str = Field(alias="startTime", description="yyyy-MM-dd HH:mm:ss, UTC.")
    operation_status: Literal[
        "IN_PROGRESS", "COMPLETED", "COMPLETED_WITH_WARNINGS", "COMPLETED_UNSUCCESSFULLY"
    ] = Field(alias="operationStatus")


class UploadResponse(BaseModel):
    """The positions of an upload that ended alike: their status, why, and their IUPDs."""

    model_config = ConfigDict(populate_by_name=True)

    status_code: int = Field(alias="statusCode")
    status_message: str = Field(alias="statusMessage")
    iupds: list[str]


class UploadReport(BaseModel):
    """pagoPA's ``UploadReportDTO`` of an uploaded file, once every position is processed."""

    model_config = ConfigDict(populate_by_name=True)

    file_id: str = Field(alias="fileId")
    processed_item: int = Field(alias="processedItem")
    submitted_item: int = Field(alias="submittedItem")
    responses: list[UploadResponse]
    start_time: str = Field(alias="startTime", description="yyyy-MM-ddTHH:mm:ss.SSS, UTC.")
    end_time: str = Field(alias="endTime", description="yyyy-MM-ddTHH:mm:ss.SSS, UTC.")


class FileIdList(BaseModel):
    """pagoPA's ``FileIdListResponse``: a page of a broker's uploaded files for one EC."""

    model_config = ConfigDict(populate_by_name=True)

    file_ids: list[str] = Field(alias="fileIds")
    size: int = Field(description="Files in this page.")
    has_more: bool = Field(
        alias="hasMore", description="Another page follows: pass x-continuation-token back."
    )
