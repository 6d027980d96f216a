"""Where a bulk upload stands: its document and its chunks' results, counted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.notices.bulk_models import BULK_ID, BulkReport, RejectedLine
from shared.notices.store import BulkStore
from shared.parties.models import Party
from shared.platform.errors import Forbidden, Invalid, NotFound


async def bulk_report(store: BulkStore, bulk_id: str, *, party: Party | None) -> BulkReport:
    """Where a bulk stands; for the party that submitted it (``None``: an operator)."""
    if not BULK_ID.fullmatch(bulk_id):
        raise Invalid(
            "a bulk id is 32 hexadecimal characters",
            errors=[
                {
                    "loc": ["path", "id"],
                    "type": "pattern",
                    "msg": "32 lowercase hexadecimal characters",
                }
            ],
        )
    bulk = await store.get_bulk(bulk_id)
    if bulk is None:
        raise NotFound(f"no bulk {bulk_id}")
    if party is not None and party.party_id != bulk["partyId"]:
        raise Forbidden(f"bulk {bulk_id} was submitted by another party")
    chunks = await store.chunks(bulk_id)
    written = sum(int(c["written"]) for c in chunks)
    rejected: list[dict[str, Any]] = sorted(
        (r for c in chunks for r in c["rejected"]), key=lambda r: int(r["line"])
    )
    pending = int(bulk["accepted"]) - written - len(rejected)
    return BulkReport(
        bulk_id=bulk_id,
        party_id=bulk["partyId"],
        status="COMPLETED" if len(chunks) >= int(bulk["chunks"]) else "PROCESSING",
        received_at=datetime.fromisoformat(bulk["receivedAt"]),
        accepted=int(bulk["accepted"]),
        written=written,
        rejected=len(rejected),
        pending=max(0, pending),
        chunks=int(bulk["chunks"]),
        chunks_done=len(chunks),
        rejected_lines=[RejectedLine.model_validate(r) for r in rejected],
    )
