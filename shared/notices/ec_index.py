"""The EC-scoped positions index as pure rules: what an archived position makes of its entry.

The back office lists an EC's positions a page at a time. The archive keeps one logical
partition per position (:mod:`shared.notices.store`), so listing an EC there is a query across
every partition. The index keeps a copy of each position in its EC's partition
(``ec:<EC fiscal code>``, in the archive's own container: same ``/pk`` path, no TTL), so a
search is ONE single-partition query (:mod:`shared.notices.ec_index_store`).

An entry is the archived document as it was read (without Cosmos' system fields and the
outbox), re-homed under ``pk = ec:<EC>`` and ``kind = ecposition``. Its order key is
``(seq, updatedAt)``: ``seq`` the archive's write counter of the events it publishes
(:mod:`shared.notices.events`), ``updatedAt`` breaking ties for writes that publish nothing
(a debtor's name corrected). An entry is replaced only by a state with a higher key, so any
order of deliveries, duplicates included, ends in the newest state: the queue consumer and the
operator's rebuild may race on one entry and neither can move it back.
"""

from __future__ import annotations

from typing import Any

from shared.notices.rules import is_present

Document = dict[str, Any]

KIND = "ecposition"
_DROPPED = {"outbox", "pk", "kind"}


def ec_partition(ec_fiscal_code: str) -> str:
    return f"ec:{ec_fiscal_code}"


def order_key(document: Document) -> tuple[int, str]:
    """How new a state is: the archive's ``seq`` (0 before events existed), then when it
    was written."""
    return int(document.get("seq") or 0), str(document.get("updatedAt") or "")


def entry_of(archived: Document) -> Document:
    """The index entry of an archived position (present or tombstoned)."""
    entry = {k: v for k, v in archived.items() if not k.startswith("_") and k not in _DROPPED}
    entry["pk"] = ec_partition(archived["paFiscalCode"])
    entry["kind"] = KIND
    entry["present"] = is_present(archived)
    if archived.get("paidAt"):
        # the payments' list and export page by it: when paid, then which position
        entry["paidKey"] = f"{archived['paidAt']}|{archived['id']}"
    return entry


def apply(current: Document | None, archived: Document) -> Document | None:
    """The entry after reading ``archived`` (``current`` None: not indexed yet); None when
    ``current`` already holds this state or a newer one."""
    if current is not None and order_key(current) >= order_key(archived):
        return None
    return entry_of(archived)
