"""Files uploaded from the back office: a CSV becomes the archive's NDJSON bulk (the report's
lines are the CSV's), editors upload, viewers read the report, other ECs are refused."""

from __future__ import annotations

import json

import pytest

from shared.backoffice.uploads import BackOfficeUploads, csv_to_ndjson
from shared.platform.errors import Forbidden, Invalid
from tests.unit.backoffice.test_backoffice import EDITOR, STRANGER, VIEWER, office
from tests.unit.notices.fakes import EC, OTHER_EC, World, iuv, nav

HEADER = "iuv;amount;description;expirationDate;entityFiscalCode;entityFullName;entityType"


def row(n: int, amount: str = "1250") -> str:
    return f"{iuv(n)};{amount};TARI 2027;2027-01-31T10:00:00Z;RSSMRA85T10A562S;Mario Rossi;F"


async def uploads() -> tuple[BackOfficeUploads, World]:
    bo, world = await office()
    return BackOfficeUploads(bo, world.bulks, world.archive.ecs), world


def test_a_csv_row_becomes_a_position_with_the_ec_and_typed_values() -> None:
    raw = f"\ufeff{HEADER};payStandIn\n{row(1)};false\n\n{row(2, '12,50')};\n".encode()
    lines = csv_to_ndjson(raw, EC).decode().split("\n")
    assert lines[0] == ""  # the header's line
    first = json.loads(lines[1])
    assert first["paFiscalCode"] == EC
    assert (first["amount"], first["payStandIn"], first["iuv"]) == (1250, False, iuv(1))
    assert lines[2] == ""
    assert json.loads(lines[3])["amount"] == "12,50"  # the archive refuses it, on its line


def test_a_csv_without_the_required_columns_is_refused_whole() -> None:
    with pytest.raises(Invalid) as refused:
        csv_to_ndjson(b"iuv,amount\n1,2\n", EC)
    assert refused.value.status == 422
    assert {e["loc"][1] for e in refused.value.errors} == {
        "description",
        "expirationDate",
        "entityFiscalCode",
    }


async def test_an_editors_csv_is_written_and_its_bad_lines_reported_by_csv_line() -> None:
    files, world = await uploads()
    raw = "\n".join([HEADER, row(1), row(2, "dodici"), row(3)]).encode()
    accepted = await files.submit(EDITOR, EC, raw, "csv", now=world.later())
    assert accepted.accepted == 3
    assert accepted.report == f"/api/bo/v1/ecs/{EC}/uploads/{accepted.bulk_id}"
    await world.deliver_all()
    report = await files.report(VIEWER, EC, accepted.bulk_id)
    assert (report.status, report.written, report.rejected) == ("COMPLETED", 2, 1)
    assert [line.line for line in report.rejected_lines] == [3]
    assert world.stored(EC, nav(1)) is not None
    assert world.stored(EC, nav(2)) is None


async def test_ndjson_goes_to_the_archive_as_it_is() -> None:
    files, world = await uploads()
    line = {"paFiscalCode": EC, "entityType": "F", "entityFiscalCode": "RSSMRA85T10A562S"}
    line |= {"entityFullName": "Mario Rossi", "iuv": iuv(7), "amount": 100}
    line |= {"description": "TARI", "expirationDate": "2027-01-31T10:00:00Z"}
    accepted = await files.submit(EDITOR, EC, json.dumps(line).encode(), "ndjson", now=world.now)
    await world.deliver_all()
    assert (await files.report(EDITOR, EC, accepted.bulk_id)).written == 1


async def test_viewers_do_not_upload_and_other_ecs_do_not_read() -> None:
    files, world = await uploads()
    raw = "\n".join([HEADER, row(1)]).encode()
    with pytest.raises(Forbidden):
        await files.submit(VIEWER, EC, raw, "csv", now=world.now)
    accepted = await files.submit(EDITOR, EC, raw, "csv", now=world.now)
    with pytest.raises(Forbidden):
        await files.report(STRANGER, EC, accepted.bulk_id)
    with pytest.raises(Forbidden):  # the viewer edits OTHER_EC, which did not upload it
        await files.report(VIEWER, OTHER_EC, accepted.bulk_id)
