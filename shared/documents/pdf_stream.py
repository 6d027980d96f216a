"""One PDF written to a stream from many small reportlab PDFs, without holding them all.

reportlab keeps every page of a canvas in memory until ``save()``: a batch of 1,000 paper
notices on one canvas holds 1,000 pages. So a batch is rendered a few pages at a time into a
small PDF, whose objects are copied at once to the output with new numbers; only each object's
offset (for the cross-reference table) and each page's number stay in memory.

The small PDFs are reportlab's own, so their shape is known: a classic ``xref`` table whose
offsets delimit every object, a trailer naming ``/Root`` and ``/Info``, indirect references
written ``N 0 R`` in dictionaries (never inside a stream's bytes, which are copied untouched).
Each part's catalog, page tree and info are dropped; its pages join the one page tree.
"""

from __future__ import annotations

import itertools
import re
from typing import BinaryIO

__all__ = ["PdfSplicer"]

_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_XREF_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])")
_TRAILER_REF = re.compile(rb"/(Root|Info) (\d+) 0 R")
_REF = re.compile(rb"(\d+) 0 R\b")
_KIDS = re.compile(rb"/Kids\s*\[([^\]]*)\]")
_OBJ_HEADER = re.compile(rb"^(\d+) 0 obj\b")


class PdfSplicer:
    """Writes one PDF to ``out``: :meth:`add` each reportlab PDF, then :meth:`close`."""

    def __init__(self, out: BinaryIO, *, title: str = "") -> None:
        self._out = out
        self._written = 0
        self._offsets: dict[int, int] = {}
        self._pages: list[int] = []
        self._next = 3  # 1: the catalog, 2: the page tree
        self._title = title
        self._emit(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    @property
    def pages(self) -> int:
        return len(self._pages)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._written += len(data)

    def _object(self, number: int, body: bytes) -> None:
        self._offsets[number] = self._written
        self._emit(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    def add(self, pdf: bytes) -> int:
        """Copy the pages of ``pdf`` (a reportlab PDF) to the output; the pages it had."""
        objects, root, info = _objects(pdf)
        catalog = objects[root]
        pages_ref = re.search(rb"/Pages (\d+) 0 R", catalog)
        if pages_ref is None:
            raise ValueError("the part's catalog names no page tree")
        tree = int(pages_ref.group(1))
        kids_found = _KIDS.search(objects[tree])
        if kids_found is None:
            raise ValueError("the part's page tree has no kids")
        kids = [int(n) for n in _REF.findall(kids_found.group(1))]
        dropped = {root, info, tree}
        renumber = {n: self._next + i for i, n in enumerate(k for k in objects if k not in dropped)}
        self._next += len(renumber)

        def new(match: re.Match[bytes]) -> bytes:
            old = int(match.group(1))
            return b"2 0 R" if old == tree else b"%d 0 R" % renumber[old]

        for number, body in objects.items():
            if number in dropped:
                continue
            head, stream, tail = body.partition(b"stream\r\n")
            if not stream:
                head, stream, tail = body.partition(b"stream\n")
            self._object(renumber[number], _REF.sub(new, head) + stream + tail)
        self._pages.extend(renumber[k] for k in kids)
        return len(kids)

    def close(self) -> int:
        """Write the page tree, catalog, cross-reference table and trailer; the page count."""
        kids = b" ".join(b"%d 0 R" % n for n in self._pages)
        self._object(2, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(self._pages), kids))
        self._object(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        info = self._next
        # a PDF literal string: no unbalanced parenthesis, no escape
        title = self._title.encode("ascii", "replace")
        title = title.replace(b"\\", b"/").replace(b"(", b"[").replace(b")", b"]")
        self._object(info, b"<< /Producer (Centro Stella) /Title (%s) >>" % title)
        size = info + 1
        xref = self._written
        rows = [b"xref\n0 %d\n0000000000 65535 f \n" % size]
        for number in range(1, size):
            rows.append(b"%010d 00000 n \n" % self._offsets[number])
        rows.append(
            b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, info, xref)
        )
        self._emit(b"".join(rows))
        return len(self._pages)


def _objects(pdf: bytes) -> tuple[dict[int, bytes], int, int]:
    """A reportlab PDF's objects (number -> what lies between ``obj`` and ``endobj``), and the
    numbers of its catalog and info."""
    tail = _STARTXREF.search(pdf[-64:])
    if tail is None:
        raise ValueError("not a PDF this module can read: no startxref")
    xref = int(tail.group(1))
    table, _, trailer = pdf[xref:].partition(b"trailer")
    refs = dict(_TRAILER_REF.findall(trailer))
    if b"Root" not in refs or b"Info" not in refs:
        raise ValueError("the part's trailer names no root or info")
    starts = [int(offset) for offset, _, kind in _XREF_ENTRY.findall(table) if kind == b"n"]
    bounds = [*sorted(starts), xref]
    objects: dict[int, bytes] = {}
    for start, end in itertools.pairwise(bounds):
        chunk = pdf[start:end]
        header = _OBJ_HEADER.match(chunk)
        if header is None:
            raise ValueError(f"no object at offset {start}")
        body = chunk[header.end() :].rstrip()
        if not body.endswith(b"endobj"):
            raise ValueError(f"object {header.group(1)!r} does not end with endobj")
        objects[int(header.group(1))] = body[: -len(b"endobj")].strip(b"\r\n")
    return objects, int(refs[b"Root"]), int(refs[b"Info"])
