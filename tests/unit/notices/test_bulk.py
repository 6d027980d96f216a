"""Bulk uploads on in-memory ports: framing, fan-out, per-line outcomes, the report, and a
worker that dies midway."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from shared.notices.bulk_models import BulkAccepted, ChunkTask
from shared.notices.framing import frame
from shared.notices.models import MAX_POSITIONS, MAX_UPLOAD_BYTES
from shared.platform.errors import Forbidden, Invalid, NotFound, PayloadTooLarge, PermanentError
from tests.unit.notices.fakes import (
    BROKER,
    EC,
    OTHER_EC,
    FailingStore,
    World,
    body,
    nav,
    position,
)


def ndjson(items: list[Any]) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


@pytest.fixture
async def world() -> World:
    return await World().seed()


async def submit(
    world: World, raw: bytes, party: str = EC, codes: list[str] | None = None
) -> BulkAccepted:
    return await world.bulks.submit(
        world.parties[party],
        raw,
        segregation_codes=codes,
        now=world.later(),
        report_url="/api/aca/v1/bulk/{bulk_id}",
    )


# ------------------------------------------------------------------ framing
def test_ndjson_keeps_the_file_line_numbers_and_cuts_chunks() -> None:
    raw = b'{"a":1}\r\n\n{"a":2}\n   \n{"a":3}\n{"a":4}'
    framed = frame(raw, chunk_lines=2)
    assert framed.positions == 4
    assert [c.first_line for c in framed.chunks] == [1, 5]
    pieces = [framed.data[c.offset : c.offset + c.length] for c in framed.chunks]
    assert pieces == [b'{"a":1}\r\n\n{"a":2}\n', b'{"a":3}\n{"a":4}']


def test_a_json_array_becomes_one_line_per_element() -> None:
    framed = frame(b'\xef\xbb\xbf [ {"a": 1}, 2, null, "x" ]', chunk_lines=10)
    assert framed.data == b'{"a":1}\n2\nnull\n"x"'
    assert framed.positions == 4
    assert [c.first_line for c in framed.chunks] == [1]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", Invalid),
        (b"\n \n", Invalid),
        (b"[]", Invalid),
        (b'[{"a": 1},', Invalid),
        (b"[\xff]", Invalid),
        (b"[" * 100_000, Invalid),
        (b"{}\n" * (MAX_POSITIONS + 1), PayloadTooLarge),
        (b"[" + b"{}," * MAX_POSITIONS + b"{}]", PayloadTooLarge),
        (b" " * (MAX_UPLOAD_BYTES + 1), PayloadTooLarge),
        # what JSON can say but nothing downstream can take
        (b'[{"amount": 1' + b"1" * 5000 + b"}]", Invalid),
        (b'[{"amount": 18446744073709551616}]', Invalid),
        (b'[{"amount": 1e400}]', Invalid),
        (b'[{"description": "\\ud800"}]', Invalid),
        (b'[{"description": "a\\u0000b"}]', Invalid),
        (b'[{"\\u0000": 1}]', Invalid),
    ],
)
def test_uploads_that_cannot_be_framed_are_4xx(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        frame(raw, chunk_lines=500)


# ------------------------------------------------------------------ processing
async def test_a_bulk_writes_its_valid_lines_and_reports_the_others(world: World) -> None:
    await world.archive.publish(
        world.parties[EC], position(9), segregation_codes=None, now=world.later()
    )
    await world.archive.mark_paid(
        EC, nav(9), receipt_id="r9", paid_at=world.now, by="GW", stand_in=False, now=world.now
    )
    lines = [
        json.dumps(body(1)),
        "not json",
        json.dumps(body(2, amount=-5)),
        "",
        json.dumps(body(3, paFiscalCode=OTHER_EC)),
        json.dumps(body(4, amount=0)),
        json.dumps(body(9, amount=1)),
        "[1, 2]",
        json.dumps(body(5)),
    ]
    accepted = await submit(world, "\n".join(lines).encode())
    assert (accepted.accepted, accepted.chunks) == (8, 3)
    assert accepted.report == f"/api/aca/v1/bulk/{accepted.bulk_id}"
    assert [q for q, _ in world.sender.sent] == ["notices"] * 3
    pending = await world.bulks.report(accepted.bulk_id, party=world.parties[EC])
    assert (pending.status, pending.pending) == ("PROCESSING", 8)
    assert await world.deliver_all() == 3
    report = await world.bulks.report(accepted.bulk_id, party=world.parties[EC])
    assert (report.status, report.written, report.rejected, report.pending) == (
        "COMPLETED",
        2,
        6,
        0,
    )
    reasons = {r.line: r.reason for r in report.rejected_lines}
    assert sorted(reasons) == [2, 3, 5, 6, 7, 8]
    assert "not valid JSON" in reasons[2]
    assert reasons[3].startswith("amount:")
    assert "may not act for" in reasons[5]
    assert reasons[6].startswith("amount: 0 for a position that does not exist")
    assert "PAID" in reasons[7]
    assert "object" in reasons[8]
    # each line with the status the same position would get from paCreatePosition
    assert {r.line: r.status for r in report.rejected_lines} == {
        2: 400,
        3: 400,
        5: 403,
        6: 422,
        7: 409,
        8: 400,
    }
    assert report.rejected_lines[3].iupd == f"ACA_{EC}_{body(4)['iuv']}"
    assert world.stored(EC, nav(1))["history"][0]["source"] == (  # type: ignore[index]
        f"bulk {accepted.bulk_id} line 1"
    )
    assert world.stored(EC, nav(5))["status"] == "VALID"  # type: ignore[index]


@pytest.mark.parametrize(
    "raw",
    [b'[{"amount": 1' + b"1" * 5000 + b"}]", b'[{"description": "\\ud800"}]', b"[NaN]"],
)
async def test_a_hostile_array_is_refused_before_anything_is_stored(
    world: World, raw: bytes
) -> None:
    with pytest.raises(Invalid):
        await submit(world, raw)
    assert (world.blobs.blobs, world.sender.sent, world.bulk_store.items) == ({}, [], {})


async def test_bad_dates_and_text_are_rejected_lines_never_stored(world: World) -> None:
    raw = ndjson(
        [
            body(1, expirationDate="0999-01-01T00:00:00Z"),
            body(2, expirationDate="2100-01-01T00:00:00+00:00"),
            body(3, description="a\u0000b"),
            body(4),
        ]
    )
    accepted = await submit(world, raw)
    await world.deliver_all()
    report = await world.bulks.report(accepted.bulk_id, party=None)
    reasons = {r.line: r.reason for r in report.rejected_lines}
    assert sorted(reasons) == [1, 2, 3]
    assert reasons[1].startswith("expirationDate:")
    assert reasons[3].startswith("description:")
    assert [n for n in range(1, 5) if world.stored(EC, nav(n))] == [4]


async def test_a_bulk_line_is_authorized_on_its_nav_too(world: World) -> None:
    await world.archive.publish(
        world.parties[EC], position(1, code="03"), segregation_codes=None, now=world.later()
    )
    before = world.stored(EC, nav(1, "03"))
    hijack = body(1, code="01", nav=nav(1, "03"), amount=1, description="x")
    accepted = await submit(world, ndjson([hijack, body(2, code="01")]), party=BROKER)
    await world.deliver_all()
    report = await world.bulks.report(accepted.bulk_id, party=None)
    assert [(r.line, r.status) for r in report.rejected_lines] == [(1, 409)]
    assert "Unauthorized action" in report.rejected_lines[0].reason
    assert report.written == 1
    assert world.stored(EC, nav(1, "03")) == before
    assert world.stored(EC, nav(1, "01")) is None


async def test_later_lines_win_within_a_bulk(world: World) -> None:
    raw = ndjson([body(1, amount=1), body(1, amount=2), body(1, amount=3), body(1, amount=4)])
    accepted = await submit(world, raw)
    # deliver the chunks newest first: line order still decides
    world.sender.sent.reverse()
    await world.deliver_all()
    assert world.stored(EC, nav(1))["amount"] == 4  # type: ignore[index]
    report = await world.bulks.report(accepted.bulk_id, party=None)
    assert (report.written, report.rejected) == (4, 0)


async def test_a_redelivered_chunk_is_skipped(world: World) -> None:
    accepted = await submit(world, ndjson([body(n) for n in range(1, 5)]))
    copies = list(world.sender.sent)
    await world.deliver_all()
    world.sender.sent.extend(copies)
    await world.deliver_all()
    report = await world.bulks.report(accepted.bulk_id, party=world.parties[EC])
    assert (report.written, report.chunks_done, report.chunks) == (4, 2, 2)


async def test_a_worker_dying_midway_completes_on_redelivery_writing_each_once() -> None:
    store = FailingStore()
    world = await World(store=store, chunk_lines=50).seed()
    accepted = await submit(world, ndjson([body(n) for n in range(1, 121)]))
    messages = list(world.sender.sent)
    store.fail_after = 70  # the host dies after 70 writes, in the middle of chunk 2
    for _, message in messages:
        with contextlib.suppress(RuntimeError):
            await world.bulks.process_message(message.body, now=world.now)
    partial = await world.bulks.report(accepted.bulk_id, party=None)
    assert (partial.status, partial.chunks_done) == ("PROCESSING", 1)
    store.fail_after = None  # a new host: every message is delivered again
    for _, message in messages:
        await world.bulks.process_message(message.body, now=world.now)
    report = await world.bulks.report(accepted.bulk_id, party=None)
    assert (report.status, report.written, report.rejected) == ("COMPLETED", 120, 0)
    histories = [world.stored(EC, nav(n))["history"] for n in range(1, 121)]  # type: ignore[index]
    assert all(len(h) == 1 and h[0]["action"] == "created" for h in histories)


async def test_an_intermediary_bulk_is_authorized_line_by_line(world: World) -> None:
    raw = ndjson([body(1, code="01"), body(2, code="03"), body(3, code="02")])
    accepted = await submit(world, raw, party=BROKER, codes=["01", "03"])
    await world.deliver_all()
    report = await world.bulks.report(accepted.bulk_id, party=world.parties[BROKER])
    # line 2: 03 is in the request, not in the registry; line 3: 02 is not in the request
    assert [r.line for r in report.rejected_lines] == [2, 3]
    assert report.written == 1


# ------------------------------------------------------------------ report and messages
async def test_the_report_is_for_its_submitter(world: World) -> None:
    accepted = await submit(world, ndjson([body(1)]))
    with pytest.raises(Forbidden):
        await world.bulks.report(accepted.bulk_id, party=world.parties[BROKER])
    with pytest.raises(NotFound):
        await world.bulks.report("0" * 32, party=None)
    with pytest.raises(Invalid):
        await world.bulks.report("../etc", party=None)


async def test_a_message_that_is_not_a_chunk_is_permanent(world: World) -> None:
    with pytest.raises(PermanentError):
        await world.bulks.process_message(b'{"bulkId": "x"}', now=world.now)
    task = ChunkTask(
        bulk_id="a" * 32,
        chunk=0,
        blob="gone.ndjson",
        offset=0,
        length=10,
        first_line=1,
        received_at=world.now,
        party_id=EC,
    )
    with pytest.raises(PermanentError):
        await world.bulks.process_message(
            task.model_dump_json(by_alias=True).encode(), now=world.now
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("receivedAt", "0999-01-01T00:00:00Z"),
        ("receivedAt", "2026-12-08T09:30:00"),
        ("receivedAt", 1_800_000_000),
        ("chunk", 2**64),
        ("offset", True),
        ("length", "10"),
        ("partyId", "a\u0000b"),
        ("blob", "x\u0000.ndjson"),
        ("segregationCodes", ["1"]),
    ],
)
async def test_a_chunk_message_out_of_bounds_is_permanent(
    world: World, field: str, value: Any
) -> None:
    message = {
        "bulkId": "a" * 32,
        "chunk": 0,
        "blob": "2026/12/08/x.ndjson",
        "offset": 0,
        "length": 10,
        "firstLine": 1,
        "receivedAt": "2026-12-08T09:30:00Z",
        "partyId": EC,
        "segregationCodes": None,
        field: value,
    }
    with pytest.raises(PermanentError) as ended:
        await world.bulks.process_message(json.dumps(message).encode(), now=world.now)
    assert field in ended.value.reason
