"""The acquirers' file format: names, lines, and the stream (docs/cashback-files.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from shared.cashback.rtd_files import (
    MAX_LINE_BYTES,
    LineReject,
    ParsedLine,
    parse_line,
    parse_lines,
    parse_name,
    parse_stream,
)
from shared.platform.errors import Invalid

HPAN = "5c6bda1b1f5f6238dcba70f9f4b5a77671eb2b1563b0ca6d15d14c649a9b7ce0"
# The first line of ops_resources/example_files/trx-list-output.csv in
# pagopa/rtd-ms-transaction-filter (19 columns: the 15, fiscal code, VAT, POS type, empty PAR).
EXAMPLE_OUTPUT = (
    f"36081;00;10;{HPAN};2020-08-06T12:19:16.000+00:00;80205005000037219007587693;657098;;12;"
    "978;09509;400000080205;80205005;40236010;4900;fc123456;12345678901;00;"
).encode()
# The first line of ops_resources/example_files/trx-list-input.csv: the acquirer's input, whose
# PAN is not hashed yet.
EXAMPLE_INPUT = EXAMPLE_OUTPUT.replace(HPAN.encode(), b"pan1")


def line(**overrides: str) -> bytes:
    """A 15-column line as the interface documents it, with ``overrides`` by column."""
    cells = {
        "code": "12345",
        "op": "00",
        "circuit": "01",
        "hpan": "a" * 64,
        "at": "2026-12-01T10:00:00.000+01:00",
        "trx": "T1",
        "issuer": "AUTH1",
        "corr": "",
        "amount": "2500",
        "currency": "978",
        "acq": "ACQ1",
        "merchant": "M1",
        "terminal": "POS1",
        "bin": "40236010",
        "mcc": "5411",
    }
    cells.update(overrides)
    return ";".join(cells.values()).encode()


def test_a_file_name_gives_the_senders_abi_its_time_and_number() -> None:
    found = parse_name("CSTAR.99999.TRNLOG.20220204.094652.001.csv.pgp")
    assert (found.abi, found.number, found.encrypted) == ("99999", 1, True)
    assert found.created == datetime(2022, 2, 4, 9, 46, 52, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        # the repository's own example of a wrong name (transactions_wrong_filename/)
        "CSTAR.99999.TRNLOG.20220204.094652.AAA.csv",
        "ADE.99999.TRNLOG.20220204.094652.001.csv",
        "CSTAR.9999.TRNLOG.20220204.094652.001.csv",
        "CSTAR.99999.TRNLOG.20221304.094652.001.csv",
        "CSTAR.99999.TRNLOG.20220204.094652.001.txt",
        "../CSTAR.99999.TRNLOG.20220204.094652.001.csv",
    ],
)
def test_a_name_outside_the_convention_is_refused(name: str) -> None:
    with pytest.raises(Invalid):
        parse_name(name)


def test_the_example_output_line_of_the_interface_parses() -> None:
    parsed = parse_line(1, EXAMPLE_OUTPUT)
    assert isinstance(parsed, ParsedLine)
    trx = parsed.transaction
    assert (trx.acquirer_code, trx.acquirer_id, trx.hpan) == ("36081", "09509", HPAN)
    assert (trx.operation_type, trx.circuit_type, trx.amount) == ("00", "10", 12)
    assert trx.correlation_id is None
    assert trx.trx_date == datetime(2020, 8, 6, 12, 19, 16, tzinfo=UTC)


def test_the_example_input_line_is_refused_for_its_unhashed_pan() -> None:
    parsed = parse_line(3, EXAMPLE_INPUT)
    assert isinstance(parsed, LineReject)
    assert (parsed.line, parsed.reason) == (3, "INVALID")
    assert [e["loc"] for e in parsed.errors] == [["hpan"]]


def test_fifteen_and_sixteen_columns_parse_too() -> None:
    assert isinstance(parse_line(1, line()), ParsedLine)
    with_par = parse_line(1, line() + b";PAR123")
    assert isinstance(with_par, ParsedLine)


@pytest.mark.parametrize(
    ("raw", "reason", "loc"),
    [
        (line(amount="25.00"), "INVALID", ["amount"]),
        (line(amount="-5"), "INVALID", ["amount"]),
        (line(currency="840"), "INVALID", ["currency"]),
        (line(op="07"), "INVALID", ["operationType"]),
        (line(at="06/12/2026 10:00:00"), "INVALID", ["trxDate"]),
        (line(bin="12ab"), "INVALID", ["bin"]),
        (line(code="1234"), "INVALID", ["acquirerCode"]),
        (line(trx=""), "INVALID", ["idTrxAcquirer"]),
        (line() + b";a;b", "COLUMNS", []),
        (b"just;a;few", "COLUMNS", []),
        (b"\xff" + line(), "NOT_UTF8", None),
        (line(trx="T" * MAX_LINE_BYTES), "LINE_TOO_LONG", None),
    ],
)
def test_a_bad_line_is_rejected_with_its_reason(
    raw: bytes, reason: str, loc: list[str] | None
) -> None:
    parsed = parse_line(7, raw)
    assert isinstance(parsed, LineReject)
    assert (parsed.line, parsed.reason) == (7, reason)
    if loc:
        assert loc in [e["loc"] for e in parsed.errors]


def test_lines_are_numbered_from_one_and_empty_lines_skipped() -> None:
    found = list(parse_lines([line() + b"\r\n", b"\n", b"bad\n", line(trx="T2")]))
    assert [(type(f).__name__, f.line) for f in found] == [
        ("ParsedLine", 1),
        ("LineReject", 3),
        ("ParsedLine", 4),
    ]


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 7, 100, 1 << 16])
async def test_the_stream_gives_the_same_lines_whatever_its_chunks(size: int) -> None:
    huge = line(trx="T" * (3 * MAX_LINE_BYTES))
    data = b"\n".join([line(), huge, b"", line(trx="T3"), b"x;y"]) + b"\n"
    found = [(type(f).__name__, f.line) async for f in parse_stream(_chunks(data, size))]
    assert found == [
        ("ParsedLine", 1),
        ("LineReject", 2),
        ("ParsedLine", 4),
        ("LineReject", 5),
    ]
    rejects = [f async for f in parse_stream(_chunks(data, size)) if isinstance(f, LineReject)]
    assert [r.reason for r in rejects] == ["LINE_TOO_LONG", "COLUMNS"]
