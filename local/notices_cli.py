"""An EC's bulk upload of payment positions: a CSV or NDJSON file of any size, split into
uploads the archive takes (at most 50,000 positions and 20 MB each), with a progress bar on
stderr and the final report (every rejected line by its line in the file) on stdout::

    python -m local.notices_cli positions.csv
    python -m local.notices_cli positions.ndjson --segregation-codes 01,02 --rejects out.ndjson

CSV: a header row of the ACA field names (``paFiscalCode``, ``entityType``, ``iuv``, ``amount``
...); empty cells are left out, ``amount`` is sent as a number and ``switchToExpired`` /
``payStandIn`` as booleans when they read as such; the archive validates everything else.
NDJSON: one position per line, sent as it is.

``--url`` defaults to ``$CENTRO_STELLA_URL`` or http://localhost:7071; the EC's key comes from
``--key`` or ``$CENTRO_STELLA_EC_KEY`` (locally: DEV_PARTY_KEY_EC of local.settings), the
function key from ``--function-key`` or ``$CENTRO_STELLA_FUNCTION_KEY`` (LOCAL_FUNCTION_KEY).
Exit status: 0 all written, 2 some lines rejected, 1 the upload failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

MAX_LINES = 50_000
MAX_BYTES = 20 * 1024 * 1024 - 1024  # a little under the archive's limit
BULK = "/api/aca/v1/positions/bulk"
BOOLEANS = {"true": True, "false": False}
SETTINGS = Path(__file__).resolve().parent.parent


class CliError(RuntimeError):
    pass


def _local_setting(name: str) -> str:
    for file in ("local.settings.json", "local.settings.example.json"):
        path = SETTINGS / file
        if path.exists():
            value = json.loads(path.read_text())["Values"].get(name)
            if value:
                return str(value)
    return ""


# ------------------------------------------------------------------ reading the file
def csv_row(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a position: empty cells left out, numbers and booleans typed."""
    position: dict[str, Any] = {}
    for name, raw in row.items():
        if name is None or raw is None or raw == "":
            continue
        value: Any = raw
        if name == "amount" and raw.strip().lstrip("-").isdigit():
            value = int(raw)
        elif name in ("switchToExpired", "payStandIn") and raw.strip().lower() in BOOLEANS:
            value = BOOLEANS[raw.strip().lower()]
        position[name.strip()] = value
    return position


def read_lines(path: Path, kind: str) -> Iterator[tuple[int, bytes]]:
    """(line in the file, one NDJSON line) for every position of the file, streaming."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if kind == "csv":
            reader = csv.DictReader(handle)
            for row in reader:
                line = reader.line_num  # where the row ends (a quoted cell may span lines)
                yield line, json.dumps(csv_row(row), ensure_ascii=False).encode()
        else:
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    yield number, text.rstrip("\r\n").encode()


def count_lines(path: Path, kind: str) -> int:
    return sum(1 for _ in read_lines(path, kind))


@dataclass
class Upload:
    """One upload's lines, and the file line of each (upload line N -> file_lines[N - 1])."""

    lines: list[bytes] = field(default_factory=list)
    file_lines: list[int] = field(default_factory=list)
    size: int = 0
    bulk_id: str = ""
    report: str = ""


def uploads(
    lines: Iterator[tuple[int, bytes]], *, max_lines: int, max_bytes: int
) -> Iterator[Upload]:
    current = Upload()
    for number, line in lines:
        if current.lines and (
            len(current.lines) >= max_lines or current.size + len(line) + 1 > max_bytes
        ):
            yield current
            current = Upload()
        current.lines.append(line)
        current.file_lines.append(number)
        current.size += len(line) + 1
    if current.lines:
        yield current


# ------------------------------------------------------------------ HTTP
@dataclass
class Archive:
    url: str
    key: str
    function_key: str
    segregation_codes: str | None = None

    def call(
        self, method: str, path: str, data: bytes | None = None, attempts: int = 5
    ) -> dict[str, Any]:
        query = (
            {"segregationCodes": self.segregation_codes}
            if (self.segregation_codes and path == BULK)
            else {}
        )
        full = self.url.rstrip("/") + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {
            "x-functions-key": self.function_key,
            "Ocp-Apim-Subscription-Key": self.key,
            "Content-Type": "application/x-ndjson",
        }
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(full, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    found: dict[str, Any] = json.loads(response.read())
                    return found
            except urllib.error.HTTPError as error:
                detail = error.read().decode(errors="replace")
                if error.code in (429, 503) and attempt < attempts:  # retry later, as told
                    time.sleep(float(error.headers.get("Retry-After") or 2**attempt))
                    continue
                raise CliError(f"{method} {path}: {error.code} {detail}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt < attempts:
                    time.sleep(2**attempt)
                    continue
                raise CliError(f"cannot reach {self.url}: {error}") from None
        raise AssertionError("unreachable")


# ------------------------------------------------------------------ progress and report
class Progress:
    """A one-line progress bar on stderr (redrawn in place when stderr is a terminal)."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = max(1, total)
        self.stream = stream
        self.width = width
        self.last = 0.0

    def show(self, uploaded: int, written: int, rejected: int, *, final: bool = False) -> None:
        now = time.monotonic()
        every = 0.2 if self.stream.isatty() else 5.0  # a log gets a line now and then
        if not final and now - self.last < every:
            return
        self.last = now
        done = written + rejected
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        line = (
            f"[{bar}] {100 * done / self.total:5.1f}%  uploaded {uploaded:,}/{self.total:,}"
            f"  written {written:,}  rejected {rejected:,}"
        )
        end = "\n" if final or not self.stream.isatty() else ""
        self.stream.write(("\r" if self.stream.isatty() else "") + line + end)
        self.stream.flush()


def run(
    path: Path,
    archive: Archive,
    *,
    kind: str,
    max_lines: int,
    max_bytes: int,
    poll_seconds: float,
    out: TextIO,
    rejects: Path | None,
    progress_stream: TextIO = sys.stderr,
) -> int:
    total = count_lines(path, kind)
    if total == 0:
        raise CliError(f"{path} has no positions")
    progress = Progress(total, progress_stream)
    sent: list[Upload] = []
    uploaded = 0
    for upload in uploads(read_lines(path, kind), max_lines=max_lines, max_bytes=max_bytes):
        accepted = archive.call("POST", BULK, b"\n".join(upload.lines) + b"\n")
        upload.bulk_id, upload.report = accepted["bulkId"], accepted["report"]
        upload.lines = []  # keep only the line map
        sent.append(upload)
        uploaded += len(upload.file_lines)
        progress.show(uploaded, 0, 0)
    reports: dict[str, dict[str, Any]] = {}
    while True:
        for upload in sent:
            if reports.get(upload.bulk_id, {}).get("status") != "COMPLETED":
                reports[upload.bulk_id] = archive.call("GET", upload.report)
        written = sum(int(r["written"]) for r in reports.values())
        rejected = sum(int(r["rejected"]) for r in reports.values())
        if all(r["status"] == "COMPLETED" for r in reports.values()):
            progress.show(uploaded, written, rejected, final=True)
            break
        progress.show(uploaded, written, rejected)
        time.sleep(poll_seconds)
    failures = sorted(
        (upload.file_lines[int(r["line"]) - 1], str(r["reason"]))
        for upload in sent
        for r in reports[upload.bulk_id]["rejectedLines"]
    )
    out.write(
        f"{path}: {total:,} positions in {len(sent)} upload(s): "
        f"{written:,} written, {rejected:,} rejected\n"
    )
    for upload in sent:
        report = reports[upload.bulk_id]
        out.write(
            f"  bulk {upload.bulk_id}: {report['accepted']:,} accepted, "
            f"{report['written']:,} written, {report['rejected']:,} rejected\n"
        )
    for line, reason in failures[:50]:
        out.write(f"  line {line}: {reason}\n")
    if len(failures) > 50:
        out.write(
            f"  ... and {len(failures) - 50:,} more"
            f"{f' (all in {rejects})' if rejects else ' (--rejects FILE lists them all)'}\n"
        )
    if rejects is not None:
        with rejects.open("w") as handle:
            for line, reason in failures:
                handle.write(json.dumps({"line": line, "reason": reason}) + "\n")
    return 2 if failures else 0


def main(
    argv: list[str] | None = None,
    *,
    out: TextIO | None = None,
    progress_stream: TextIO | None = None,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a .csv or .ndjson file")
    parser.add_argument(
        "--format", choices=("csv", "ndjson"), help="default: from the file's extension"
    )
    parser.add_argument(
        "--url", default=os.environ.get("CENTRO_STELLA_URL", "http://localhost:7071")
    )
    parser.add_argument(
        "--key",
        default=os.environ.get("CENTRO_STELLA_EC_KEY") or _local_setting("DEV_PARTY_KEY_EC"),
        help="the EC's API key",
    )
    parser.add_argument(
        "--function-key",
        default=os.environ.get("CENTRO_STELLA_FUNCTION_KEY")
        or _local_setting("LOCAL_FUNCTION_KEY"),
    )
    parser.add_argument("--segregation-codes", help="e.g. 01,02 (an intermediary's codes)")
    parser.add_argument("--rejects", type=Path, help="write every rejected line here (NDJSON)")
    parser.add_argument("--max-lines", type=int, default=MAX_LINES, help=argparse.SUPPRESS)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    kind = args.format or ("csv" if args.file.suffix.lower() == ".csv" else "ndjson")
    archive = Archive(args.url, args.key, args.function_key, args.segregation_codes)
    try:
        return run(
            args.file,
            archive,
            kind=kind,
            max_lines=min(args.max_lines, MAX_LINES),
            max_bytes=MAX_BYTES,
            poll_seconds=args.poll_seconds,
            out=out or sys.stdout,
            rejects=args.rejects,
            progress_stream=progress_stream or sys.stderr,
        )
    except (CliError, OSError, UnicodeDecodeError, csv.Error) as error:
        (out or sys.stdout).write(f"error: {error}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
