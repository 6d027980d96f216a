"""An upload in its EC's journal: when it started and when it finished.

The back office's uploads name their EC and signed-in user. An upload through the ACA contract
(the EC's or an intermediary's own system) names the calling party as who, and is recorded in
the journal of each EC whose positions it holds and the party may act for (each line's
``paFiscalCode``; the file upload's ``organization``): an intermediary's upload may hold several
ECs' positions, and a line for an EC the party may not act for is refused, so that EC's journal
is not told of it.

``UploadStarted`` waits in the bulk's document's ``outbox``, written by the create that accepts
the upload (:meth:`Bulks.submit`), and is sent after it (the outbox's sweep sends it if the
process dies first): the 202 never waits on the journal, and never answers 503 because of it.

``UploadFinished`` is sent by the chunk whose result completes the upload (each chunk carries
the upload's :class:`UploadJournal`). Its id is the bulk's, so when the last two chunks end
together and both send it, the broker drops the copy (duplicate detection by message id) and
the journal writes one entry (create by event id). The chunk's message is completed only after
the send, and a redelivered chunk whose result exists checks again: a crash or a broker down
between the chunk's result and the send ends in the send, at a later delivery.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.notices.bulk_models import MAX_UPLOAD_ECS, ChunkTask, UploadActor, UploadJournal
from shared.notices.store import BulkStore
from shared.parties.models import Party
from shared.platform.messaging import Sender
from shared.platform.outbox import Event, add_events
from shared.platform.queue_work import retry_transient

logger = logging.getLogger(__name__)

STARTED = "UploadStarted"
FINISHED = "UploadFinished"
# A JSON member named paFiscalCode (a string holding these words has its quotes escaped)
_EC_MEMBER = re.compile(rb'"paFiscalCode"\s*:\s*"([0-9]{11})"')


@dataclass(frozen=True)
class UploadNote:
    """An upload's EC, uploader and file name (``others``: the other ECs it is recorded for)."""

    ec: str
    actor: UploadActor
    file_name: str | None
    others: tuple[str, ...] = ()


def journal_of(note: UploadNote, lines: int, chunks: int) -> UploadJournal:
    return UploadJournal(
        ec=note.ec,
        others=list(note.others),
        file_name=note.file_name,
        lines=lines,
        chunks=max(1, chunks),
    )


def ecs_named(data: bytes, party: Party) -> list[str]:
    """The ECs whose positions ``data`` (NDJSON) names that ``party`` may act for, sorted."""
    named = {m.decode() for m in _EC_MEMBER.findall(data)}
    mine = party.party_id if party.role == "ec" else None
    return sorted(ec for ec in named if ec == mine or ec in party.acts_for)


def aca_note(
    party: Party, ecs: list[str], *, from_: str | None, file_name: str | None
) -> UploadNote | None:
    """The journal's note of an upload through the ACA contract: the calling party is who; None
    when the upload names no EC the party may act for (nothing to record, every line fails)."""
    if not ecs:
        return None
    if len(ecs) > MAX_UPLOAD_ECS:
        logger.warning(
            "upload of %s names %d ECs: journaled in the first %d",
            party.party_id,
            len(ecs),
            MAX_UPLOAD_ECS,
        )
        ecs = ecs[:MAX_UPLOAD_ECS]
    name = party.name[:200] if party.name else None
    actor = UploadActor(object_id=party.party_id, name=name, from_=from_)
    return UploadNote(ec=ecs[0], actor=actor, file_name=file_name, others=tuple(ecs[1:]))


def stamp(
    bulk: dict[str, Any],
    note: UploadNote,
    journal: UploadJournal,
    *,
    queue: str | None,
    now: datetime,
) -> list[Event]:
    """Put ``UploadStarted`` in the outbox of the bulk's document (in place) and return the
    events put there; ``UploadFinished`` too when the upload has no line (no chunk will)."""
    if queue is None:
        return []
    events = [started(bulk["bulkId"], note, journal, queue=queue, now=now)]
    if int(bulk["chunks"]) == 0:
        events.append(finished(bulk["bulkId"], journal, [], queue=queue, now=now))
    add_events(bulk, events)
    return events


def started(
    bulk_id: str, note: UploadNote, journal: UploadJournal, *, queue: str, now: datetime
) -> Event:
    return Event(
        id=f"upload-started-{bulk_id}",
        type=STARTED,
        queue=queue,
        data={
            "ecFiscalCode": note.ec,
            "bulkId": bulk_id,
            "by": note.actor.model_dump(mode="json", by_alias=True),
            "fileName": note.file_name,
            "lines": journal.lines,
            "chunks": journal.chunks,
            **_others(journal),
        },
        created_at=now,
    )


def _others(journal: UploadJournal) -> dict[str, Any]:
    # absent for one EC: the event is then what it was before intermediaries were journaled
    return {"otherEcs": journal.others} if journal.others else {}


class Ended(Protocol):
    """How a line of an upload ended (``shared.notices.bulk.Outcome``)."""

    @property
    def ec(self) -> str | None: ...

    @property
    def reason(self) -> str | None: ...


def counts_by_ec(journal: UploadJournal, lines: Iterable[Ended]) -> dict[str, dict[str, int]]:
    """A chunk's lines of the ECs ``journal`` tells, counted per EC (written: no ``reason``):
    what each EC's journal is told of an upload holding several ECs' positions. A line that
    could not be read names no EC and is in no EC's counts; nor is a line of an EC the upload's
    party may not act for (refused, and that EC not told)."""
    told = {journal.ec, *journal.others}
    counts: dict[str, dict[str, int]] = {}
    for line in lines:
        if line.ec in told:
            tally = counts.setdefault(line.ec, {"written": 0, "rejected": 0})
            tally["written" if line.reason is None else "rejected"] += 1
    return counts


def _by_ec(journal: UploadJournal, results: list[dict[str, Any]]) -> dict[str, Any]:
    # only an upload journaled in several ECs' journals: each is told its own counts
    if not journal.others:
        return {}
    total = {ec: {"written": 0, "rejected": 0} for ec in [journal.ec, *journal.others]}
    for result in results:
        for ec, tally in (result.get("byEc") or {}).items():
            if ec in total:
                total[ec]["written"] += int(tally.get("written") or 0)
                total[ec]["rejected"] += int(tally.get("rejected") or 0)
    return {"byEc": total}


def finished(
    bulk_id: str,
    journal: UploadJournal,
    results: list[dict[str, Any]],
    *,
    queue: str,
    now: datetime,
) -> Event:
    rejected = sum(len(r.get("rejected") or []) for r in results)
    return Event(
        id=f"upload-finished-{bulk_id}",
        type=FINISHED,
        queue=queue,
        data={
            "ecFiscalCode": journal.ec,
            "bulkId": bulk_id,
            "fileName": journal.file_name,
            "lines": journal.lines,
            "written": sum(int(r.get("written") or 0) for r in results),
            "rejected": rejected,
            **_others(journal),
            **_by_ec(journal, results),
        },
        created_at=now,
    )


async def tell_if_finished(
    task: ChunkTask, store: BulkStore, sender: Sender, queue: str, *, now: datetime
) -> bool:
    """Send ``UploadFinished`` if ``task``'s upload is a journaled one whose chunks have all
    recorded their results; True if it sent it. A send that fails raises (the chunk's message
    is delivered again, and checks again)."""
    if task.journal is None:
        return False
    results = await retry_transient(lambda: store.chunks(task.bulk_id))
    if len(results) < task.journal.chunks:
        return False
    event = finished(task.bulk_id, task.journal, results, queue=queue, now=now)
    await sender.send(queue, [event.outgoing()])
    return True
