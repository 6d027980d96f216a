"""Files of positions uploaded from the back office: the archive's bulk upload, as the EC.

The page sends a CSV or an NDJSON file. NDJSON goes to :meth:`Bulks.submit` as it is; a CSV is
first turned into NDJSON, one object per data row, so the archive's own bulk pipeline (framing,
chunks, the queue's workers, the per-line report) does all the work and every rule is the
archive's. Line ``n`` of the report is line ``n`` of the file, for a CSV too (its header is line
1: the NDJSON made from it keeps a blank line in its place, and a blank line for a blank row).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Literal

from shared.backoffice.principal import Principal
from shared.backoffice.service import BackOffice
from shared.notices.bulk import Bulks
from shared.notices.bulk_journal import UploadNote
from shared.notices.bulk_models import BulkAccepted, BulkReport, UploadActor
from shared.notices.models import MAX_UPLOAD_BYTES
from shared.notices.service import EcDirectory
from shared.platform.errors import Invalid, PayloadTooLarge

FileFormat = Literal["csv", "ndjson"]
INTEGERS = frozenset({"amount"})
BOOLEANS = frozenset({"switchToExpired", "payStandIn"})
REQUIRED = ("iuv", "amount", "description", "expirationDate", "entityFiscalCode")


class BackOfficeUploads:
    def __init__(self, office: BackOffice, bulks: Bulks, ecs: EcDirectory) -> None:
        self._office = office
        self._bulks = bulks
        self._ecs = ecs

    async def submit(
        self,
        principal: Principal,
        ec: str,
        raw: bytes,
        file_format: FileFormat,
        *,
        now: datetime,
        file_name: str | None = None,
        from_: str | None = None,
    ) -> BulkAccepted:
        """Upload ``raw`` (editors): 202 with the bulk's id; its report is :meth:`report`.
        The EC's journal records that it started (who, ``file_name``, from where: ``from_``)
        and, once its chunks are done, that it finished with its counts."""
        (await self._office.user(principal)).may_edit(ec)
        if len(raw) > MAX_UPLOAD_BYTES:
            raise PayloadTooLarge(f"a file is at most {MAX_UPLOAD_BYTES} bytes: split it")
        body = csv_to_ndjson(raw, ec) if file_format == "csv" else raw
        party = await self._ecs.get(ec)
        name = principal.name[:200] if principal.name else None
        actor = UploadActor(object_id=principal.object_id, name=name, from_=from_)
        return await self._bulks.submit(
            party,
            body,
            segregation_codes=None,
            now=now,
            report_url=f"/api/bo/v1/ecs/{ec}/uploads/{{bulk_id}}",
            note=UploadNote(ec=ec, actor=actor, file_name=file_name),
        )

    async def report(self, principal: Principal, ec: str, bulk_id: str) -> BulkReport:
        """Where an upload of ``ec`` stands (viewers and editors); 403 for another EC's."""
        (await self._office.user(principal)).role_for(ec)
        return await self._bulks.report(bulk_id, party=await self._ecs.get(ec))


def csv_to_ndjson(raw: bytes, ec: str) -> bytes:
    """One JSON object per data row, keyed by the header's column names (the position's JSON
    names: ``iuv``, ``amount`` in cents, ...); ``paFiscalCode`` defaults to ``ec``. An empty
    cell is left out. A value that is not what its column holds (``amount`` not a whole
    number) is passed on as text, so the archive refuses that line alone, with its reason.

    Raises:
        Invalid: not UTF-8, or a header without the required columns.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(
            "the CSV file is not UTF-8 text",
            errors=[{"loc": ["body"], "type": "encoding", "msg": "UTF-8"}],
        ) from None
    dialect = csv.excel_tab if "\t" in text.split("\n", 1)[0] else _dialect(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = [name.strip() for name in next(reader, [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise Invalid(
            f"the CSV header lacks {', '.join(missing)}",
            status=422,
            errors=[{"loc": ["header", name], "type": "missing", "msg": name} for name in missing],
        )
    out = io.StringIO()
    out.write("\n")  # the header's line: the report's line numbers are the CSV's
    for row in reader:
        if not any(cell.strip() for cell in row):
            out.write("\n")
            continue
        line: dict[str, Any] = {"paFiscalCode": ec}
        for name, cell in zip(header, row, strict=False):
            if name and cell.strip():
                line[name] = _value(name, cell.strip())
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return out.getvalue().encode()


def _dialect(text: str) -> type[csv.Dialect]:
    first = text.split("\n", 1)[0]
    return _Semicolon if first.count(";") > first.count(",") else csv.excel


class _Semicolon(csv.excel):
    delimiter = ";"  # Italian spreadsheets write CSV with semicolons


def _value(name: str, cell: str) -> Any:
    if name in INTEGERS and cell.lstrip("-").isdigit():
        return int(cell)
    if name in BOOLEANS and cell.lower() in ("true", "false"):
        return cell.lower() == "true"
    return cell
