"""pagoPA's reads of uploaded files (``gpd-4-aca_massive_v2``): the status and the report of a
file, and the list of the files a broker uploaded for an EC (``pagopa-gpd-upload``: see
docs/aca-contract.md). Only the broker named in the path reads them. Submitting a file is
:meth:`shared.notices.bulk.Bulks.submit_file`.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, time, timedelta
from typing import Any

from shared.notices.bulk_models import BULK_ID, SUCCESS
from shared.notices.store import BulkStore, Document
from shared.notices.times import fixed_time
from shared.notices.upload import ROME, gpd_time
from shared.parties.models import Party
from shared.platform.errors import DomainError, Forbidden, Gone, Invalid, NotFound


class TooEarly(DomainError):
    """pagoPA's 425: the report of an upload that is not processed yet."""

    status = 425
    title = "Too Early"


LISTING_DAYS = 7
LISTING_RETENTION_DAYS = 60
"""pagoPA's upload service lists a week at most, within the last 60 days
(``pagopa-gpd-upload`` ``CheckUploadController``, ``CommonCheck``)."""


def listing_window(start: str | None, end: str | None, *, now: datetime) -> tuple[str, str]:
    """The [start, end) of a files listing in fixed-width UTC times: calendar days in
    Europe/Rome, ``end`` today and ``start`` six days before it when left out."""
    today = now.astimezone(ROME).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=LISTING_DAYS - 1)
    except ValueError:
        raise Invalid("Invalid 'from' or 'to' date. Expected format: YYYY-MM-DD") from None
    if first > last or (last - first).days + 1 > LISTING_DAYS:
        raise Invalid("Invalid range: ensure 1 <= (to - from + 1) <= 7 and from <= to")
    cutoff = today - timedelta(days=LISTING_RETENTION_DAYS)
    if last <= cutoff:
        raise Gone(
            f"Requested range [{first}, {last}] is older than the {LISTING_RETENTION_DAYS}-day "
            f"retention (cutoff {cutoff})"
        )
    if first < cutoff:
        raise Invalid(
            f"Requested 'from' ({first}) is older than the cutoff {cutoff}: use from >= {cutoff}"
        )
    begin = datetime.combine(first, time.min, ROME)
    finish = datetime.combine(last + timedelta(days=1), time.min, ROME)
    return fixed_time(begin), fixed_time(finish)


def listing_size(size: str | None) -> int:
    """Files per page: 100 when left out, 100-500 (400 otherwise)."""
    try:
        page = int(size) if size is not None else 100
    except ValueError:
        page = 0
    if not 100 <= page <= 500:
        raise Invalid("Invalid size: must be between 100 and 500 (default 100)")
    return page


def _token(last: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(f"{last[0]}|{last[1]}".encode()).decode()


def _after(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        received, _, bulk_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
    except (ValueError, UnicodeError):
        received, bulk_id = "", ""
    if not BULK_ID.fullmatch(bulk_id) or len(received) != 27:
        raise Invalid("x-continuation-token is not one this service gave")
    return received, bulk_id


class UploadedFiles:
    """The status, report and list of uploaded files, on the bulk store."""

    def __init__(self, store: BulkStore) -> None:
        self._store = store

    async def _upload(
        self, party: Party, broker: str, organization: str, file_id: str, *, iupds: bool = False
    ) -> tuple[Document, list[Document]]:
        """An uploaded file's bulk and its finished chunks (with the IUPDs they wrote when
        ``iupds``), for its broker only."""
        if party.party_id != broker:
            raise Forbidden(f"the key is not the one of broker {broker!r}")
        bulk = await self._store.get_bulk(file_id) if BULK_ID.fullmatch(file_id) else None
        if (
            bulk is None
            or bulk.get("format") != "gpd"
            or (bulk.get("broker"), bulk.get("organization")) != (broker, organization)
        ):
            raise NotFound(f"Upload {file_id!r} not found for broker {broker} and {organization}")
        if bulk["partyId"] != party.party_id:
            raise Forbidden(f"upload {file_id} was submitted by another party")
        return bulk, await self._store.chunks(file_id, iupds=iupds)

    async def upload_status(
        self, party: Party, *, broker: str, organization: str, file_id: str
    ) -> dict[str, Any]:
        """pagoPA's ``UploadStatus`` of an uploaded file."""
        bulk, chunks = await self._upload(party, broker, organization, file_id)
        processed = sum(int(c["lines"]) for c in chunks)
        submitted = int(bulk["accepted"])
        if len(chunks) < int(bulk["chunks"]):
            status = "IN_PROGRESS"
        elif all(c["written"] == 0 for c in chunks):
            status = "COMPLETED_UNSUCCESSFULLY"
        elif any(c["rejected"] for c in chunks):
            status = "COMPLETED_WITH_WARNINGS"
        else:
            status = "COMPLETED"
        return {
            "fileId": file_id,
            "processedItem": processed,
            "submittedItem": submitted,
            "startTime": gpd_time(datetime.fromisoformat(bulk["receivedAt"]), milliseconds=False),
            "operationStatus": status,
        }

    async def upload_report(
        self, party: Party, *, broker: str, organization: str, file_id: str
    ) -> dict[str, Any]:
        """pagoPA's ``UploadReport`` of an uploaded file: its items grouped by status and
        message, each group with its IUPDs. TooEarly (425) until every chunk is done."""
        bulk, chunks = await self._upload(party, broker, organization, file_id, iupds=True)
        if len(chunks) < int(bulk["chunks"]):
            raise TooEarly(
                "The report has not been generated yet, wait for the operations to complete."
            )
        groups: dict[tuple[int, str], list[str]] = {}
        for chunk in sorted(chunks, key=lambda c: int(c["chunk"])):
            for code, message in SUCCESS.items():
                written = (chunk.get("ok") or {}).get(str(code)) or []
                if written:
                    groups.setdefault((code, message), []).extend(written)
            for line in chunk["rejected"]:
                key = (int(line.get("status") or 400), str(line["reason"]))
                groups.setdefault(key, []).append(line.get("iupd") or f"(element {line['line']})")
        ended = max(datetime.fromisoformat(c["at"]) for c in chunks)
        return {
            "fileId": file_id,
            "processedItem": sum(int(c["lines"]) for c in chunks),
            "submittedItem": int(bulk["accepted"]),
            "responses": [
                {"statusCode": code, "statusMessage": message, "iupds": iupds}
                for (code, message), iupds in groups.items()
            ],
            "startTime": gpd_time(datetime.fromisoformat(bulk["receivedAt"]), milliseconds=True),
            "endTime": gpd_time(ended, milliseconds=True),
        }

    async def upload_list(
        self,
        party: Party,
        *,
        broker: str,
        organization: str,
        start: str | None,
        end: str | None,
        size: str | None,
        continuation: str | None,
        now: datetime,
    ) -> tuple[dict[str, Any], str | None]:
        """pagoPA's list of the file ids ``broker`` uploaded for ``organization`` from ``start``
        to ``end`` (calendar days in Europe/Rome, at most 7, within the last 60), ``size`` per
        page (100-500), and the continuation token of the next page (None: the last one).

        Raises:
            Forbidden: (403) the key is not the broker's.
            Invalid: (400) a malformed date, range, size or token, or a range reaching past the
                60 days kept.
            Gone: (410) a range wholly older than that.
        """
        if party.party_id != broker:
            raise Forbidden(f"the key is not the one of broker {broker!r}")
        window = listing_window(start, end, now=now)
        page = listing_size(size)
        after = _after(continuation)
        found = await self._store.uploads(broker, organization, *window)
        ordered = sorted(
            (str(d["receivedAt"]), str(d["bulkId"]))
            for d in found
            if after is None or (str(d["receivedAt"]), str(d["bulkId"])) > after
        )
        shown, more = ordered[:page], len(ordered) > page
        token = _token(shown[-1]) if more else None
        return {
            "fileIds": [bulk_id for _, bulk_id in shown],
            "size": len(shown),
            "hasMore": more,
        }, token
