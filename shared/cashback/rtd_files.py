"""The acquirers' transaction files (RTD): their names and their lines, parsed as a stream.

The layout is the one of pagoPA's *RTD Acquirer Interface* version 5.0 (13/04/2021, the latest
in ``ops_resources/`` of ``pagopa/rtd-ms-transaction-filter``; sources in
docs/cashback-files.md): ``;``-separated, no header and no trailer, one transaction a line, in
a file named ``CSTAR.<ABI>.TRNLOG.<yyyymmdd>.<hhmmss>.<nnn>.csv`` (``.pgp`` once encrypted).
A line has the 15 columns of the interface, optionally followed by the PAR (version 5.0) or by
fiscal code, VAT number, POS type and PAR (the layout of the repository's example files and of
the batch's own reader); the columns after the fifteenth are read and not kept. A first line
``#sha256sum:<hex>``, which the batch's later versions write, is skipped.

A line is parsed on its own: it becomes a :class:`~shared.cashback.acquirer_api.TransactionIn`
or a :class:`LineReject` with its line number and reasons, and the file goes on. Memory stays
bounded whatever the file's size: lines are read one at a time, and a line longer than
:data:`MAX_LINE_BYTES` is rejected without being held.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared.cashback.acquirer_api import TransactionIn
from shared.platform.errors import Invalid

MAX_LINE_BYTES = 4096
"""A line longer than this is no line of the interface (its columns add up to ~1.6 KB)."""
COLUMNS = (
    "acquirerCode",
    "operationType",
    "circuitType",
    "hpan",
    "trxDate",
    "idTrxAcquirer",
    "idTrxIssuer",
    "correlationId",
    "amount",
    "currency",
    "acquirerId",
    "merchantId",
    "terminalId",
    "bin",
    "mcc",
)
"""The 15 columns of the interface, in order (the file's names for them are in the docs)."""
EXTRA_COLUMNS = (0, 1, 4)
"""How many columns may follow the 15: none, the PAR (v5.0), or fiscal code, VAT, POS type, PAR."""
EURO = "978"
CHECKSUM_HEADER = b"#sha256sum:"
"""The first line the batch's later versions write (the input's checksum): skipped."""
_NAME = re.compile(
    r"^CSTAR\.(?P<abi>[0-9A-Z]{5})\.TRNLOG\.(?P<date>[0-9]{8})\.(?P<time>[0-9]{6})"
    r"\.(?P<nnn>[0-9]{3})\.csv(?P<pgp>\.pgp)?$"
)
_BIN = re.compile(r"^(?:[0-9]{6}|[0-9]{8})$")
_MCC = re.compile(r"^[0-9A-Za-z]{1,5}$")
_TEXT_255 = 255


@dataclass(frozen=True)
class FileName:
    """What a file's name says: the sender's ABI code, when it was created, its number."""

    name: str
    abi: str
    created: datetime
    number: int
    encrypted: bool


def parse_name(name: str) -> FileName:
    """The parts of a transaction file's name.

    Raises:
        Invalid: the name is not ``CSTAR.<ABI>.TRNLOG.<yyyymmdd>.<hhmmss>.<nnn>.csv[.pgp]``.
    """
    found = _NAME.fullmatch(name)
    if found is None:
        raise Invalid(
            f"{name!r} is not a transaction file's name: "
            "CSTAR.<ABI>.TRNLOG.<yyyymmdd>.<hhmmss>.<nnn>.csv.pgp"
        )
    try:
        # The name's time has no zone: it only orders an acquirer's files, read as UTC.
        created = datetime.strptime(found["date"] + found["time"], "%Y%m%d%H%M%S").replace(
            tzinfo=UTC
        )
    except ValueError:
        raise Invalid(f"{name!r} names no real date and time") from None
    return FileName(
        name=name,
        abi=found["abi"],
        created=created,
        number=int(found["nnn"]),
        encrypted=found["pgp"] is not None,
    )


@dataclass(frozen=True)
class LineReject:
    """A line that is no acceptable transaction: its number (from 1), why, and field errors."""

    line: int
    reason: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedLine:
    line: int
    transaction: TransactionIn


def parse_line(number: int, raw: bytes) -> ParsedLine | LineReject:
    """One line of a file (without its end of line)."""
    if len(raw) > MAX_LINE_BYTES:
        return LineReject(number, "LINE_TOO_LONG")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return LineReject(number, "NOT_UTF8")
    cells = text.split(";")
    if len(cells) - len(COLUMNS) not in EXTRA_COLUMNS:
        return LineReject(
            number,
            "COLUMNS",
            [{"loc": [], "msg": f"{len(cells)} columns, not 15, 16 or 19", "type": "columns"}],
        )
    values = dict(zip(COLUMNS, cells, strict=False))
    errors = _beyond_the_model(values)
    if errors:
        return LineReject(number, "INVALID", errors)
    data: dict[str, Any] = {
        name: values[name]
        for name in (
            "acquirerCode",
            "operationType",
            "circuitType",
            "hpan",
            "trxDate",
            "idTrxAcquirer",
            "acquirerId",
            "merchantId",
            "terminalId",
        )
    }
    amount = values["amount"]
    # the model takes an integer only; text that is no number stays text and is refused there
    data["amount"] = int(amount) if amount.isascii() and amount.isdigit() else amount
    if values["correlationId"]:
        data["correlationId"] = values["correlationId"]
    try:
        return ParsedLine(number, TransactionIn.model_validate(data))
    except ValidationError as error:
        return LineReject(
            number,
            "INVALID",
            [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in error.errors(include_input=False, include_url=False)
            ],
        )


def _beyond_the_model(values: dict[str, str]) -> list[dict[str, Any]]:
    """The checks of the columns the model does not keep (currency, issuer id, BIN, MCC)."""
    errors: list[dict[str, Any]] = []
    if values["currency"] not in ("", EURO):
        errors.append({"loc": ["currency"], "msg": "only 978 (EUR)", "type": "currency"})
    if len(values["idTrxIssuer"]) > _TEXT_255:
        errors.append({"loc": ["idTrxIssuer"], "msg": "at most 255", "type": "string_too_long"})
    if not _BIN.fullmatch(values["bin"]):
        errors.append({"loc": ["bin"], "msg": "6 or 8 digits", "type": "bin"})
    if not _MCC.fullmatch(values["mcc"]):
        errors.append({"loc": ["mcc"], "msg": "1 to 5 letters or digits", "type": "mcc"})
    return errors


def parse_lines(lines: Iterable[bytes]) -> Iterator[ParsedLine | LineReject]:
    """Every line of a file, numbered from 1; empty lines (a final end of line) are skipped."""
    for number, raw in enumerate(lines, start=1):
        stripped = raw.rstrip(b"\r\n")
        if stripped:
            yield parse_line(number, stripped)


async def split_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The lines of a byte stream (without their ends), holding at most one line and one chunk.

    A line past :data:`MAX_LINE_BYTES` is cut short (its first bytes and one more), which is
    enough for :func:`parse_line` to reject it, and the rest of it is skipped.
    """
    pending = bytearray()
    skipping = False
    async for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not skipping:
                    pending += chunk[start:]
                    if len(pending) > MAX_LINE_BYTES:
                        del pending[MAX_LINE_BYTES + 1 :]
                        skipping = True
                break
            if not skipping:
                pending += chunk[start:end]
            yield bytes(pending[: MAX_LINE_BYTES + 1]).rstrip(b"\r")
            pending.clear()
            skipping = False
            start = end + 1
    if pending:
        yield bytes(pending).rstrip(b"\r")


async def parse_stream(
    chunks: AsyncIterable[bytes], skip: int = 0
) -> AsyncGenerator[ParsedLine | LineReject, None]:
    """:func:`parse_lines` over a byte stream (a decrypting pipe, a blob download), from the
    line after ``skip`` (a resumed file: the lines before are split and counted, not parsed)."""
    number = 0
    async for raw in split_lines(chunks):
        number += 1
        if number <= skip:
            continue
        if number == 1 and raw.startswith(CHECKSUM_HEADER):
            continue  # the later batch's own header: not a transaction
        if raw:
            yield parse_line(number, raw)
