"""The back office's files: a CSV or NDJSON of positions uploaded through the archive's bulk
upload as the EC, and its report (docs/backoffice.md, "Files")."""

from __future__ import annotations

import re
from urllib.parse import unquote

import azure.functions as func
from pydantic import BaseModel

from functions.backoffice import TAGS, _ec
from functions.backoffice_journal import client_ip
from functions.http import Call, endpoint
from shared.backoffice.uploads import FileFormat
from shared.notices.bulk_models import BulkAccepted, BulkReport
from shared.notices.models import MAX_UPLOAD_BYTES
from shared.platform.errors import Invalid

bp = func.Blueprint()

UPLOADS = "bo/v1/ecs/{ec}/uploads"
_FORMATS: dict[str, FileFormat] = {
    "text/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
}


def _format(call: Call[BaseModel]) -> FileFormat:
    media = (call.header("Content-Type") or "").split(";")[0].strip().lower()
    found = _FORMATS.get(media)
    if found is None:
        raise Invalid(
            "send the file as text/csv or application/x-ndjson",
            errors=[
                {"loc": ["header", "Content-Type"], "type": "media", "msg": ", ".join(_FORMATS)}
            ],
        )
    return found


@endpoint(
    bp,
    UPLOADS,
    "POST",
    auth="backoffice",
    returns=BulkAccepted,
    status=202,
    errors=(400, 403, 413, 422),
    max_body=MAX_UPLOAD_BYTES,
    upload="text/csv",
    tags=TAGS,
    summary="Upload a CSV (header: the positions' field names, amount in cents) or NDJSON file "
    "of positions: the archive's bulk upload, as the EC (editors); follow its report",
)
async def bo_upload_positions(call: Call[BaseModel]) -> BulkAccepted:
    return await call.root.backoffice_uploads().submit(
        call.user,
        _ec(call),
        call.raw_body,
        _format(call),
        now=call.now,
        file_name=_file_name(call),
        from_=client_ip(call.request),
    )


def _file_name(call: Call[BaseModel]) -> str | None:
    """The file's name for the journal, as the page sends it (``X-File-Name``, URI-encoded:
    a header carries Latin-1 only); None when absent or unreadable."""
    raw = call.header("X-File-Name")
    if not raw:
        return None
    name = unquote(raw, errors="replace").strip()
    if not name or "\ufffd" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    return name[:255]


def _bulk_id(call: Call[BaseModel]) -> str:
    bulk_id = call.param("id")
    if not re.fullmatch(r"[0-9a-f]{32}", bulk_id):
        raise Invalid(
            "a bulk id is 32 hexadecimal characters",
            errors=[{"loc": ["path", "id"], "type": "pattern", "msg": "32 hex characters"}],
        )
    return bulk_id


@endpoint(
    bp,
    UPLOADS + "/{id}",
    "GET",
    auth="backoffice",
    returns=BulkReport,
    errors=(400, 403, 404),
    tags=TAGS,
    summary="An upload's report: its progress, and each rejected line with its reason "
    "(viewers and editors)",
)
async def bo_upload_report(call: Call[BaseModel]) -> BulkReport:
    return await call.root.backoffice_uploads().report(call.user, _ec(call), _bulk_id(call))
