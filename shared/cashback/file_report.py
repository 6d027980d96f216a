"""An acquirer's file's report: the rejected lines, ``line;reason;detail``, written a slice at a
time (a part per slice that ended before the file did) and joined when the file ends."""

from __future__ import annotations

import shutil
from typing import IO

from shared.cashback.file_blobs import FileBlobs
from shared.cashback.rtd_files import LineReject

REPORT_SUFFIX = ".report.csv"
SPOOL_BYTES = 4 * 1024 * 1024
"""A report is held in memory up to this size, then spooled to disk."""
HEADER = b"line;reason;detail\n"


def part_name(name: str, part: int) -> str:
    """A slice's report part; it ends like a report, so its blob-created event is ignored."""
    return f"{name}.part{part:05d}{REPORT_SUFFIX}"


class Report:
    """The rejected lines, spooled to disk past a few MB, then stored next to the file."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file  # the rows only: the header is written when the parts are joined
        self.count = 0

    def add(self, reject: LineReject) -> None:
        detail = ", ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])) or 'line'}: {e.get('msg', '')}"
            for e in reject.errors
        )
        row = f"{reject.line};{reject.reason};{detail.replace(';', ',')}\n"
        self.file.write(row.encode("utf-8", "replace"))
        self.count += 1

    def note(self, text: str) -> None:
        self.file.write(f"0;FILE;{text.replace(';', ',')}\n".encode("utf-8", "replace"))


async def joined(
    blobs: FileBlobs, container: str, name: str, parts: int, last: Report, into: IO[bytes]
) -> None:
    """Write the whole report into ``into`` (a spooled file, rewound): the header, the earlier
    slices' ``parts`` read a block at a time, then the last slice's rows."""
    into.write(HEADER)
    for part in range(1, parts + 1):
        async for block in blobs.read(container, part_name(name, part)):
            into.write(block)
    last.file.seek(0)
    shutil.copyfileobj(last.file, into)
    into.seek(0)
