"""pagoPA's upload file (gpd-4-aca_massive_v2, the format of pagopa-gpd-upload) on in-memory
ports: the multipart body, the ZIP, the JSON framed without building its list, a GPD payment
position as an ACA position, and an uploaded file written, reported per line and as pagoPA's
status and report."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from shared.notices.files import TooEarly
from shared.notices.models import MAX_FILE_CONTENT_BYTES, MAX_POSITIONS
from shared.notices.upload import (
    Refused,
    elements,
    file_part,
    frame_file,
    iuv_to_delete,
    position_of,
    unzip,
)
from shared.platform.errors import Forbidden, Gone, Invalid, NotFound, PayloadTooLarge
from tests.unit.notices.fakes import BROKER, EC, IBAN, OTHER_EC, World, iuv, nav, position

BOUNDARY = "----centro-stella-test"


def gpd(n: int, code: str = "01", **changes: Any) -> dict[str, Any]:
    """A GPD payment position that is an ACA position (one option, one transfer)."""
    option = {
        "iuv": iuv(n, code),
        "amount": 12_050,
        "description": "TARI 2026",
        "isPartialPayment": False,
        "dueDate": "2027-01-31T23:00:00",
        "retentionDate": "2027-03-31T23:00:00",
        "fee": 0,
        "transfer": [
            {
                "idTransfer": "1",
                "amount": 12_050,
                "organizationFiscalCode": EC,
                "remittanceInformation": "TARI 2026",
                "category": "9/0101108TS/",
                "iban": IBAN,
            }
        ],
    }
    option.update(changes.pop("option", {}))
    position = {
        "iupd": f"ACA_{EC}_{iuv(n, code)}",
        "type": "F",
        "fiscalCode": "RSSMRA85T10A562S",
        "fullName": "Mario Rossi",
        "email": "mario.rossi@example.org",
        "companyName": "Comune di Demo",
        "switchToExpired": False,
        "paymentOption": [option],
    }
    position.update(changes)
    return position


def zipped(content: bytes, name: str = "positions.json", *extra: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
        for entry, data in extra:
            archive.writestr(entry, data)
    return buffer.getvalue()


def multipart(archive: bytes, filename: str = "positions.zip", name: str = "file") -> bytes:
    return (
        (
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="note"\r\n\r\nignored\r\n'
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        + archive
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def upload_body(positions: list[Any], key: str = "paymentPositions") -> bytes:
    return multipart(zipped(json.dumps({key: positions}, indent=2).encode()))


# ------------------------------------------------------------------ the request and the ZIP
def test_the_file_part_is_found_among_the_parts() -> None:
    filename, data = file_part(multipart(b"PK\x03\x04 bytes\r\n--not-it"), CONTENT_TYPE)
    assert (filename, data) == ("positions.zip", b"PK\x03\x04 bytes\r\n--not-it")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (multipart(b"x", name="other"), CONTENT_TYPE),
        (multipart(b"x"), "application/json"),
        (multipart(b"x"), "multipart/form-data"),
        (b"", CONTENT_TYPE),
        (b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data", CONTENT_TYPE),
    ],
)
def test_a_body_without_the_file_part_is_400(body: bytes, content_type: str) -> None:
    with pytest.raises(Invalid):
        file_part(body, content_type)


def test_the_zip_holds_one_json_entry() -> None:
    assert unzip("a.ZIP", zipped(b'{"x": 1}')) == b'{"x": 1}'
    macos = zipped(b"{}", "p.json", ("__MACOSX/._p.json", b"junk"))
    assert unzip("a.zip", macos) == b"{}"
    for filename, archive in [
        ("a.json", zipped(b"{}")),  # not a .zip file name
        ("a.zip", b"not a zip"),
        ("a.zip", zipped(b"{}", "p.csv")),
        ("a.zip", zipped(b"{}", "a.json", ("b.json", b"{}"))),
        ("a.zip", zipped(b"{}")[:-10]),
    ]:
        with pytest.raises(Invalid):
            unzip(filename, archive)


def test_a_zip_that_unzips_past_the_limit_is_413_without_unzipping_it_all() -> None:
    bomb = zipped(b"0" * (MAX_FILE_CONTENT_BYTES + 1))
    assert len(bomb) < 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        unzip("bomb.zip", bomb)


# ------------------------------------------------------------------ the JSON
def test_the_list_is_framed_by_byte_offsets_whatever_the_layout() -> None:
    items = [gpd(1), gpd(2, fullName="Zoë Ünïcødé"), gpd(3)]
    content = (
        b'\xef\xbb\xbf{ "other": [1, {"x": "]"}],\n "paymentPositions" :\n[ '
        + b" ,\n ".join(json.dumps(i, ensure_ascii=False).encode() for i in items)
        + b' ] , "after": null }\n'
    )
    framed = frame_file(content, "upsert")
    assert [json.loads(content[a:b]) for a, b in framed.spans] == items
    first, last = framed.spans[0][0], framed.spans[-1][1]
    assert [json.loads(e) for e in elements(content[first:last])] == items


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"[]",
        b'{"paymentPositions": []}',
        b'{"paymentPositionIUPDs": ["x"]}',
        b'{"paymentPositions": [{}, }',
        b'{"paymentPositions": [{}]} trailing',
        b'{"paymentPositions": {"not": "a list"}}',
    ],
)
def test_a_file_that_is_not_the_upload_json_is_400(content: bytes) -> None:
    with pytest.raises(Invalid):
        frame_file(content, "upsert")


def test_a_file_past_50000_positions_is_413() -> None:
    content = b'{"paymentPositions": [' + b",".join([b"{}"] * (MAX_POSITIONS + 1)) + b"]}"
    with pytest.raises(PayloadTooLarge):
        frame_file(content, "upsert")


# ------------------------------------------------------------------ one position
def test_a_gpd_position_is_the_aca_position_it_names() -> None:
    position = position_of(json.dumps(gpd(1)).encode(), EC)
    assert position.model_dump(mode="json", by_alias=True) == {
        "paFiscalCode": EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv(1),
        "amount": 12_050,
        "description": "TARI 2026",
        "expirationDate": "2027-01-31T23:00:00+01:00",  # a wall-clock time in Rome
        "nav": None,
        "iban": IBAN,
        "postalIban": None,
        "switchToExpired": False,
        "payStandIn": True,
    }
    with_offset = gpd(1, option={"dueDate": "2027-01-31T23:00:00Z", "nav": "0" + iuv(1)})
    position = position_of(json.dumps(with_offset).encode(), EC)
    assert (position.expiration_date.isoformat(), position.nav) == (
        "2027-01-31T23:00:00+00:00",
        "0" + iuv(1),
    )


@pytest.mark.parametrize(
    ("element", "why"),
    [
        (gpd(1, iupd="my-own-iupd"), "iupd"),
        (gpd(1, iupd=f"ACA_{OTHER_EC}_{iuv(1)}"), "iupd"),
        (gpd(1, paymentOption=[]), "paymentOption"),
        (gpd(1, paymentOption=[gpd(1)["paymentOption"][0]] * 2), "paymentOption"),
        (gpd(1, option={"isPartialPayment": True}), "isPartialPayment"),
        (gpd(1, option={"amount": 0}), "amount"),
        (gpd(1, option={"description": "d" * 141}), "description"),
        (gpd(1, option={"transfer": []}), "transfer"),
        (gpd(1, option={"transfer": [{"amount": 1}]}), "amount"),
        (gpd(1, type="X"), "type"),
        (gpd(1, fullName=None), "fullName"),
        ("a string", "PaymentPosition"),
    ],
)
def test_a_gpd_position_that_is_no_aca_position_is_400(element: Any, why: str) -> None:
    with pytest.raises(Refused) as refused:
        position_of(json.dumps(element).encode(), EC)
    assert refused.value.status == 400
    assert why in refused.value.reason or why == "PaymentPosition"


def test_bytes_that_are_no_utf8_json_are_400() -> None:
    for raw in (b'{"iupd": "\xff"}', b"{"):
        with pytest.raises(Refused):
            position_of(raw, EC)


def test_an_iupd_to_delete_names_its_iuv() -> None:
    assert iuv_to_delete(json.dumps(f"ACA_{EC}_{iuv(1)}").encode(), EC) == (
        f"ACA_{EC}_{iuv(1)}",
        iuv(1),
    )
    for raw in (b"7", json.dumps(f"ACA_{OTHER_EC}_1").encode(), json.dumps(f"ACA_{EC}_").encode()):
        with pytest.raises(Refused):
            iuv_to_delete(raw, EC)


# ------------------------------------------------------------------ an uploaded file
@pytest.fixture
async def world() -> World:
    return await World().seed()


async def submit(
    world: World, body: bytes, *, party: str = EC, broker: str = EC, operation: str = "upsert"
) -> str:
    return await world.bulks.submit_file(
        world.parties[party],
        broker=broker,
        organization=EC,
        operation=operation,  # type: ignore[arg-type]
        content_type=CONTENT_TYPE,
        body=body,
        now=world.later(),
    )


async def test_an_uploaded_file_is_written_and_reported_both_ways(world: World) -> None:
    await world.archive.publish(
        world.parties[EC], position(9), segregation_codes=None, now=world.later()
    )
    await world.archive.mark_paid(
        EC, nav(9), receipt_id="r9", paid_at=world.now, by="GW", stand_in=False, now=world.now
    )
    seven = {"amount": 7, "transfer": [{"amount": 7, "iban": IBAN}]}
    positions = [gpd(1), gpd(2, iupd="wrong"), gpd(3), gpd(9), gpd(1, option=seven)]
    file_id = await submit(world, upload_body(positions))
    status = await world.bulks.files.upload_status(
        world.parties[EC], broker=EC, organization=EC, file_id=file_id
    )
    assert (status["operationStatus"], status["submittedItem"]) == ("IN_PROGRESS", 5)
    with pytest.raises(TooEarly):
        await world.bulks.files.upload_report(
            world.parties[EC], broker=EC, organization=EC, file_id=file_id
        )
    assert await world.deliver_all() == 2  # chunks of 3 elements
    assert world.stored(EC, nav(1))["amount"] == 7  # type: ignore[index]  # the later element
    assert world.stored(EC, nav(3))["status"] == "VALID"  # type: ignore[index]
    # the per-line report, as for NDJSON: a line is an element of the list
    report = await world.bulks.report(file_id, party=world.parties[EC])
    assert (report.status, report.written, report.rejected) == ("COMPLETED", 3, 2)
    assert [(r.line, r.status, r.iupd) for r in report.rejected_lines] == [
        (2, 400, "wrong"),
        (4, 409, f"ACA_{EC}_{iuv(9)}"),
    ]
    # and pagoPA's
    status = await world.bulks.files.upload_status(
        world.parties[EC], broker=EC, organization=EC, file_id=file_id
    )
    assert (status["operationStatus"], status["processedItem"]) == ("COMPLETED_WITH_WARNINGS", 5)
    found = await world.bulks.files.upload_report(
        world.parties[EC], broker=EC, organization=EC, file_id=file_id
    )
    groups = {(r["statusCode"], r["statusMessage"][:24]): r["iupds"] for r in found["responses"]}
    assert groups[(201, "Debt position CREATED")] == [f"ACA_{EC}_{iuv(1)}", f"ACA_{EC}_{iuv(3)}"]
    assert groups[(200, "Debt position operation ")] == [f"ACA_{EC}_{iuv(1)}"]
    assert sorted(code for code, _ in groups) == [200, 201, 400, 409]
    assert found["startTime"] < found["endTime"]


async def test_a_delete_file_invalidates_the_positions_it_names(world: World) -> None:
    await submit(world, upload_body([gpd(1), gpd(2)]))
    await world.deliver_all()
    names = [f"ACA_{EC}_{iuv(1)}", f"ACA_{EC}_{iuv(7)}", f"ACA_{EC}_{iuv(1)}", "bad"]
    file_id = await submit(world, upload_body(names, "paymentPositionIUPDs"), operation="delete")
    await world.deliver_all()
    assert world.stored(EC, nav(1))["status"] == "INVALID"  # type: ignore[index]
    assert world.stored(EC, nav(2))["status"] == "VALID"  # type: ignore[index]
    report = await world.bulks.report(file_id, party=None)
    assert [(r.line, r.status) for r in report.rejected_lines] == [(2, 404), (3, 409), (4, 400)]


async def test_only_the_broker_may_upload_for_its_ecs_and_read_it(world: World) -> None:
    body = upload_body([gpd(1)])
    with pytest.raises(Forbidden):  # the key is not the broker's
        await submit(world, body, broker=BROKER)
    with pytest.raises(Forbidden):  # a broker that does not act for the EC
        await world.bulks.submit_file(
            world.parties[BROKER],
            broker=BROKER,
            organization=OTHER_EC,
            operation="upsert",
            content_type=CONTENT_TYPE,
            body=body,
            now=world.now,
        )
    file_id = await submit(
        world, upload_body([gpd(1, code="01"), gpd(2, code="03")]), party=BROKER, broker=BROKER
    )
    await world.deliver_all()
    report = await world.bulks.report(file_id, party=world.parties[BROKER])
    assert [(r.line, r.status) for r in report.rejected_lines] == [(2, 409)]  # its codes only
    with pytest.raises(Forbidden):
        await world.bulks.files.upload_status(
            world.parties[EC], broker=BROKER, organization=EC, file_id=file_id
        )
    for broker, organization, wanted in [
        (BROKER, OTHER_EC, file_id),
        (BROKER, EC, "0" * 32),
        (BROKER, EC, "not-an-id"),
    ]:
        with pytest.raises(NotFound):
            await world.bulks.files.upload_status(
                world.parties[BROKER], broker=broker, organization=organization, file_id=wanted
            )


async def test_a_file_that_cannot_be_taken_stores_nothing(world: World) -> None:
    for body in (multipart(b"not a zip"), upload_body([], "paymentPositions")):
        with pytest.raises(Invalid):
            await submit(world, body)
    assert (world.blobs.blobs, world.sender.sent, world.bulk_store.items) == ({}, [], {})


# ------------------------------------------------------------------ the list of uploaded files
async def test_a_broker_lists_its_files_a_page_at_a_time(world: World) -> None:
    ids = [await submit(world, upload_body([gpd(n)])) for n in range(1, 4)]
    other = await submit(world, upload_body([gpd(9, code="02")]), party=BROKER, broker=BROKER)

    async def page(token: str | None = None, **query: str) -> tuple[dict[str, Any], str | None]:
        return await world.bulks.files.upload_list(
            world.parties[EC],
            broker=EC,
            organization=EC,
            start=query.get("start"),
            end=query.get("end"),
            size=query.get("size"),
            continuation=token,
            now=world.now,
        )

    found, token = await page()
    assert (found, token) == ({"fileIds": ids, "size": 3, "hasMore": False}, None)
    assert other not in found["fileIds"]
    many = [await submit(world, upload_body([gpd(n)])) for n in range(100)]
    first, token = await page()
    assert (first["size"], first["hasMore"], token is not None) == (100, True, True)
    second, last = await page(token)
    assert (second["fileIds"], last) == (many[-3:], None)
    yesterday, _ = await page(start="2026-12-01", end="2026-12-07")  # NOW is 2026-12-08
    assert yesterday["fileIds"] == []


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"start": "2026-12-01", "end": "2026-12-08"}, Invalid),  # 8 days
        ({"start": "2026-12-08", "end": "2026-12-07"}, Invalid),
        ({"start": "8/12/2026"}, Invalid),
        ({"size": "99"}, Invalid),
        ({"size": "501"}, Invalid),
        ({"size": "ten"}, Invalid),
        ({"token": "not-a-token"}, Invalid),
        ({"start": "2026-10-05", "end": "2026-10-10"}, Invalid),  # reaches past 60 days
        ({"start": "2026-09-01", "end": "2026-09-07"}, Gone),
    ],
)
async def test_a_listing_out_of_bounds_is_refused(
    world: World, query: dict[str, str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await world.bulks.files.upload_list(
            world.parties[EC],
            broker=EC,
            organization=EC,
            start=query.get("start"),
            end=query.get("end"),
            size=query.get("size"),
            continuation=query.get("token"),
            now=world.now,
        )
    with pytest.raises(Forbidden):
        await world.bulks.files.upload_list(
            world.parties[EC],
            broker=BROKER,
            organization=EC,
            start=None,
            end=None,
            size=None,
            continuation=None,
            now=world.now,
        )
