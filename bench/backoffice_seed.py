"""Seeding the notices bench's EC without its events: the archive's documents and the positions
index's entries written directly, the same documents the bulk upload and the index's consumer
write (``python -m bench.backoffice --index seed``).

Why: a bulk upload of 50,000 positions publishes 150,000 events (one per position per
consumer of the archive's events); the local Service Bus emulator drains them at a few a
second, and with the consumers off the events pile up on the broker until it refuses sends.

How it stays the same thing:

- a reference run of positions goes through the real path first (the bulk upload, the
  consumers on, every event queue drained): its archive documents and index entries are
  what the rest is built to match;
- the other positions' documents are built by the archive's own rules
  (:func:`shared.notices.rules.decide` of the same ``Write`` the bulk chunk makes, then
  :meth:`ArchiveEvents.stamp` for ``seq`` and ``publishedAt``), their outbox empty (as after
  the publisher cleared it), and their entries by :func:`shared.notices.ec_index.entry_of`,
  what the consumer applies to the document it reads;
- checked: the reference positions rebuilt in process equal what the upload stored (Cosmos'
  system fields and the outbox aside), the consumer's entries equal ``entry_of`` of their
  documents, the index's partition holds one entry per position, and a sample of seeded
  entries equals ``entry_of`` of the archive's document read back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Collection
from datetime import datetime
from typing import Any

from azure.cosmos.aio import ContainerProxy

from bench.common import upsert_all
from shared.notices import rules
from shared.notices.ec_index import ec_partition, entry_of
from shared.notices.events import ArchiveEvents
from shared.notices.identity import position_id
from shared.notices.models import PositionIn
from shared.platform.clients import Clients
from shared.platform.config import load_settings
from shared.platform.outbox import Event

Document = dict[str, Any]
CONCURRENCY = 32
SAMPLE = 50


class _Dropped:
    """A publisher that sends nothing: the seeded documents' events are never published
    (their outbox is emptied, as after a publish that cleared it)."""

    def publish_soon(self, document: Document, *, only: Collection[Event] | None = None) -> None:
        return None


def stored_form(document: Document) -> Document:
    """A document as it compares: without Cosmos' system fields and the outbox."""
    return {k: v for k, v in document.items() if not k.startswith("_") and k != "outbox"}


class Template:
    """How the reference upload wrote: its bulk, its time, who, the EC's name and IBAN, read
    back from one of its stored documents."""

    def __init__(self, reference: Document, queues: tuple[str, ...]) -> None:
        created = reference["history"][0]
        self.by: str = created["by"]
        self.at = datetime.fromisoformat(created["at"])
        self.bulk_id = reference["first"].split("/")[1]
        self.company_name: str = reference["companyName"]
        # the bench's positions name no IBAN: the stored one is the EC's default
        self.default_iban: str | None = reference.get("iban")
        self.events = ArchiveEvents(queues, _Dropped())

    def document(self, position: dict[str, Any], line: int) -> Document:
        """The archive's document of ``position`` written as line ``line`` of the reference
        upload (:meth:`shared.notices.bulk.Bulks` builds the same ``Write``)."""
        write = rules.Write(
            position=PositionIn.model_validate(position),
            key=rules.order_key(self.at, self.bulk_id, line),
            by=self.by,
            at=self.at,
            source=f"bulk {self.bulk_id} line {line}",
            company_name=self.company_name,
            default_iban=self.default_iban,
        )
        decision = rules.decide(None, write)
        assert decision.document is not None, decision
        document = decision.document
        self.events.stamp(None, document, now=self.at)
        document["outbox"] = []
        return document


async def _read(container: ContainerProxy, doc_id: str, pk: str) -> Document:
    found: Document = await container.read_item(doc_id, partition_key=pk)
    return found


async def seed(
    env: dict[str, str],
    position: Any,
    reference: int,
    positions: int,
    queues: tuple[str, ...],
) -> str:
    """Check the ``reference`` positions the bulk upload and the consumer wrote, then write
    positions ``reference``..``positions - 1`` directly; a summary line."""
    clients = Clients(load_settings(env))
    try:
        container = clients.container(clients.settings.notices_container)
        ec = position(0)["paFiscalCode"]
        first = await _read(container, *(2 * [position_id(ec, position(0)["iuv"])]))
        template = Template(first, queues)
        for n in range(reference):
            doc_id = position_id(ec, position(n)["iuv"])
            stored = await _read(container, doc_id, doc_id)
            # the line number: the reference upload's lines are positions 0.. in order
            built = template.document(position(n), int(stored["first"].rsplit("/", 1)[1]))
            if stored_form(built) != stored_form(stored):
                raise AssertionError(f"built != stored for {doc_id}: {_diff(built, stored)}")
            entry = await _read(container, doc_id, ec_partition(ec))
            if stored_form(entry) != entry_of(stored):
                raise AssertionError(f"entry of {doc_id}: {_diff(entry_of(stored), entry)}")
        started = time.perf_counter()
        documents = [template.document(position(n), n + 1) for n in range(reference, positions)]
        built_in = time.perf_counter() - started
        archive_s = await upsert_all(container, documents, CONCURRENCY)
        index_s = await upsert_all(container, [entry_of(d) for d in documents], CONCURRENCY)
        count = 0
        async for found in container.query_items(
            "SELECT VALUE COUNT(1) FROM c WHERE c.kind = 'ecposition'",
            partition_key=ec_partition(ec),
        ):
            count = int(found)  # type: ignore[call-overload]  # a VALUE query: a number
        if count != positions:
            raise AssertionError(f"{count} entries in the index, {positions} positions")
        for document in random.Random(23).sample(documents, min(SAMPLE, len(documents))):
            archived = await _read(container, document["id"], document["id"])
            entry = await _read(container, document["id"], ec_partition(ec))
            if stored_form(entry) != entry_of(archived):
                raise AssertionError(f"entry of {document['id']}: {_diff(entry, archived)}")
        return (
            f"seeded {len(documents)} positions: built in {built_in:.1f} s, archive "
            f"{archive_s:.1f} s, index {index_s:.1f} s ({CONCURRENCY} upserts at a time); "
            f"checked: {reference} uploaded ones rebuilt equal, {count} index entries, "
            f"{min(SAMPLE, len(documents))} sampled entries equal entry_of(archived)"
        )
    finally:
        await clients.close()


def _diff(a: Document, b: Document) -> str:
    a, b = stored_form(a), stored_form(b)
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    return "; ".join(f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in keys)[:2000]


def run(env: dict[str, str], position: Any, reference: int, positions: int) -> str:
    s = load_settings(env)
    queues = (s.payments_notices_queue, s.journal_queue, s.backoffice_positions_queue)
    return asyncio.run(seed(env, position, reference, positions, queues))
