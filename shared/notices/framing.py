"""Framing an NDJSON or JSON-array bulk upload: its lines found and counted and cut into chunks
of byte ranges, nothing validated yet (bad lines are rejected when their chunk is processed,
each with its reason in one line: :func:`reason_of`, :func:`reason_of_refusal`). pagoPA's
upload file is framed by :func:`shared.notices.upload.frame_file`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from shared.notices.models import MAX_POSITIONS, MAX_UPLOAD_BYTES
from shared.platform.errors import DomainError, Invalid, PayloadTooLarge
from shared.platform.values import decode_json

_BOM = b"\xef\xbb\xbf"


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
