"""The scorer: the queue consumer that applies acquirers' transactions to citizens' documents
(the rules of :mod:`shared.cashback.rules`; the reversal rule on a draft:
:mod:`shared.cashback.drafts`).

It finds who had the instrument enabled (the hpan's document: :mod:`shared.cashback.holders`),
and applies the transaction to that citizen's documents, all in the citizen's partition:

- one state per (citizen, period): counters, milestones, last transaction time, what the
  ranking orders by. Constant size, whatever the number of transactions.
- one match document per (citizen, match key), across periods: what is left of each
  payment of the key (and its period), the reversals waiting for one, and the ids of the key's
  transactions already applied (with the period of their listing record). Reversals past
  their month of waiting leave the document when it is next written and never apply (their
  records stay ``PENDING``). Fully reversed payments leave it too; a key's document grows only
  with its own transactions.
- each transaction's record in the citizen's listing (what it changed).

A chunk's lines of one citizen are applied in order and written in consecutive transactional
batches (all or nothing each, at most 100 operations: the states and match documents they
changed, ETag-conditioned or created, and the records). A transaction delivered twice finds its
id in its key's document and counts once, also after a run that died between two batches; a
writer in another process makes the batch fail on an ETag (or on a create that finds the
document), and the lines are read and applied again. A single line that changes more than a
batch holds (a payment meeting more waiting reversals than fit) writes its documents in the
batch and its records in the batches after it.

Round trips per chunk and citizen: the hpan's document (it holds each citizen's activation
spans, T&C time and fiscal code: who it is needs nothing else), the documents this process
does not remember (one batch read; it keeps those it wrote, bounded: :mod:`shared.cashback.written`;
a payment's match document it does not know is not read but created, the batch failing if it
exists), and one batch write (one more per 100 operations).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from shared.cashback import rules
from shared.cashback.acquirer_api import TransactionIn
from shared.cashback.chunks import parse_chunk
from shared.cashback.documents import StoredMatch, StoredPeriod, dump, match_id, period_id
from shared.cashback.drafts import (
    AlreadyApplied,
    CitizenDocuments,
    Draft,
    NotLoaded,
    ResolvedLine,
    draft_run,
    listing_record,
    needed_ids,
)
from shared.cashback.holders import Holders, RankingFields, whose
from shared.cashback.store import BATCH_OPERATIONS, CashbackStore, Operation, StaleDocument
from shared.cashback.tokens import Tokens
from shared.cashback.written import WrittenDocuments
from shared.platform.errors import Conflict, TransientError
from shared.platform.retry import retry_on_stale

logger = logging.getLogger(__name__)

CONCURRENCY = 16  # citizens applied, and documents read, at once per chunk
_ATTEMPTS = 10


class Scorer:
    """Applies transactions to citizens' period states and match documents (the queue
    consumer).

    A chunk's transactions are resolved first (whose, which period: the hpans' documents are
    read once per chunk), then applied per citizen with one transactional batch per 100
    operations. Writers of one citizen in this process take turns; across processes the ETags
    decide, and the loser reloads and applies again.
    """

    def __init__(self, store: CashbackStore, periods: tuple[rules.Period, ...]) -> None:
        self._store = store
        self._periods = periods
        self._by_id = {p.id: p for p in periods}
        self._tokens = Tokens(store)
        self._turns = _CitizenTurns()
        self._written = WrittenDocuments()

    async def process(self, body: bytes) -> dict[str, int]:
        """Score one chunk; how many transactions ended which way.

        Raises:
            PermanentError: not a chunk of transactions.
            TransientError: a citizen's state kept changing under us (redelivered: what was
                applied already is not applied again).
        """
        chunk = parse_chunk(body)
        outcomes = await self.score_all(chunk.transactions, received_at=chunk.received_at)
        counted: dict[str, int] = defaultdict(int)
        for outcome in outcomes:
            counted[outcome] += 1
        return dict(counted)

    async def score(self, line: TransactionIn, *, received_at: datetime) -> str:
        """Apply one transaction; ``COUNTED``, ``ALREADY_APPLIED``, ``PENDING``, ``SET_ASIDE``
        or why not."""
        [outcome] = await self.score_all([line], received_at=received_at)
        return outcome

    async def score_all(
        self, lines: Sequence[TransactionIn], *, received_at: datetime
    ) -> list[str]:
        """Apply ``lines`` in their order; one outcome per line."""
        outcomes: list[str] = [""] * len(lines)
        holders = Holders(self._store, concurrency=CONCURRENCY)
        groups: dict[str, list[ResolvedLine]] = defaultdict(list)
        hpans = sorted({line.hpan for line in lines})
        await holders.read(hpans)
        # An hpan no citizen ever enabled may be a token's (Apple Pay, Google Pay): the token
        # list says which card it stands for, and the line counts as that card's.
        unknown = [h for h in hpans if not await holders.citizens(h)]
        cards = await self._tokens.cards(unknown) if unknown else {}
        await holders.read(sorted(set(cards.values())))
        for index, line in enumerate(lines):
            txn = line.rule_view()
            if txn.hpan in cards:
                txn = dataclasses.replace(txn, hpan=cards[txn.hpan])
            # A reversal too counts only in its own period (its payment is searched there).
            found = rules.period_of(self._periods, txn.at, received_at)
            if isinstance(found, rules.Rejection):
                outcomes[index] = found.value
                continue
            citizen_id = await whose(txn, found, received_at, holders)
            if isinstance(citizen_id, rules.Rejection):
                outcomes[index] = citizen_id.value
                continue
            groups[citizen_id].append(ResolvedLine(index, txn, found))
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one_citizen(citizen_id: str, todo: list[ResolvedLine]) -> None:
            async with limit:
                results = await self._apply(
                    citizen_id, todo, received_at, holders.ranking_fields(citizen_id)
                )
            for item, result in zip(todo, results, strict=True):
                outcomes[item.index] = result

        await asyncio.gather(*(one_citizen(c, todo) for c, todo in groups.items()))
        return outcomes

    async def _apply(
        self,
        citizen_id: str,
        todo: list[ResolvedLine],
        received_at: datetime,
        ranking_fields: RankingFields,
    ) -> list[str]:
        """Apply a citizen's lines of a chunk, in order, in consecutive batches (each all or
        nothing, at most ``BATCH_OPERATIONS`` operations); one outcome per line."""
        applying = _Applying()
        async with self._turns.of(citizen_id):
            try:
                await retry_on_stale(
                    partial(
                        self._apply_rest, citizen_id, todo, received_at, ranking_fields, applying
                    ),
                    conflict=f"the documents of {citizen_id[:12]} kept changing",
                    attempts=_ATTEMPTS,
                )
            except Conflict as error:
                raise TransientError(error.detail) from None
        await self._list_already_applied(applying.already_applied, citizen_id, received_at)
        return applying.outcomes

    async def _apply_rest(
        self,
        citizen_id: str,
        todo: list[ResolvedLine],
        received_at: datetime,
        ranking_fields: RankingFields,
        applying: _Applying,
    ) -> None:
        """One attempt at the lines ``applying`` has not applied yet (the batches written by
        an attempt before it stay written)."""
        attempt = applying.attempts
        applying.attempts += 1
        if attempt > 0:
            # Another process wrote first: reload, after a pause that spreads the writers out.
            await asyncio.sleep(random.uniform(0, 0.01 * 2 ** (attempt - 1)))
        outcomes = applying.outcomes
        # After a conflict, read whatever this process does not remember.
        documents = await self._load(citizen_id, todo[len(outcomes) :], attempt > 0)
        while len(outcomes) < len(todo):
            draft = await self._plan(citizen_id, documents, todo[len(outcomes) :], received_at)
            await self._write(citizen_id, documents, draft, received_at, ranking_fields)
            outcomes.extend(draft.outcomes)
            applying.already_applied.extend(draft.already_applied)

    async def _load(
        self, citizen_id: str, todo: list[ResolvedLine], after_conflict: bool
    ) -> CitizenDocuments:
        """What applying ``todo`` starts from: the period states and match documents this
        process remembers, the others read in one round trip (a batch read). A payment's
        match document it does not remember is taken as absent (most are new): creating it
        fails the batch if it exists, and the next attempt (``after_conflict``) reads it."""
        documents = CitizenDocuments()
        unknown: list[str] = []
        reversed_keys = {match_id(rules.match_key(x.txn)) for x in todo if x.txn.is_reversal}
        for id_ in needed_ids(todo):
            known = self._written.get((citizen_id, id_))
            if known is not None:
                documents.docs[id_] = known
            elif after_conflict or not id_.startswith("match:") or id_ in reversed_keys:
                unknown.append(id_)
            else:
                documents.docs[id_] = (None, None)
        await self._read(citizen_id, documents, unknown)
        return documents

    async def _read(self, citizen_id: str, documents: CitizenDocuments, ids: list[str]) -> None:
        for start in range(0, len(ids), BATCH_OPERATIONS):
            some = ids[start : start + BATCH_OPERATIONS]
            # One id: a point read (a batch read of a missing document costs two round trips).
            found = (
                [await self._store.get(citizen_id, some[0])]
                if len(some) == 1
                else await self._store.get_all(citizen_id, some)
            )
            for id_, raw in zip(some, found, strict=True):
                documents.put_read(id_, raw)

    async def _plan(
        self,
        citizen_id: str,
        documents: CitizenDocuments,
        todo: list[ResolvedLine],
        received_at: datetime,
    ) -> Draft:
        """The longest run of ``todo`` whose changes fit one batch, drafted on ``documents``;
        reads what a reversal needs that is not there yet (a payment's period)."""
        while True:
            try:
                return draft_run(citizen_id, documents, todo, received_at, self._by_id)
            except NotLoaded as missing:
                await self._read(citizen_id, documents, [missing.id])

    async def _write(
        self,
        citizen_id: str,
        documents: CitizenDocuments,
        draft: Draft,
        received_at: datetime,
        ranking_fields: RankingFields,
    ) -> None:
        """The draft's changes in one transactional batch: every state and match document it
        changed (ETag-guarded, or created), and the listing records. ``documents`` and this
        process's memory then hold what was written."""
        changed: list[tuple[str, StoredPeriod | StoredMatch]] = []
        for period, tally in draft.tallies.items():
            stored, _ = documents.docs.get(period_id(period), (None, None))
            state = (
                stored
                if isinstance(stored, StoredPeriod)
                else StoredPeriod.empty(citizen_id, period, received_at)
            )
            changed.append(
                (
                    period_id(period),
                    state.with_tally(
                        tally,
                        updated_at=received_at,
                        fiscal_code=ranking_fields.fiscal_code,
                        terms_accepted_at=ranking_fields.terms_accepted_at,
                    ),
                )
            )
        changed += [
            (match.id, match.model_copy(update={"updated_at": received_at}))
            for match in draft.matches.values()
        ]
        if not changed:
            return
        operations: list[Operation] = []
        for id_, model in changed:
            document = dump(model)
            read_with = documents.docs.get(id_, (None, None))[1]
            if read_with is not None:
                document["_etag"] = read_with
            operations.append(("write", document))
        operations += draft.records.values()
        first, rest = operations[:BATCH_OPERATIONS], operations[BATCH_OPERATIONS:]
        try:
            written = await self._store.write_batch(citizen_id, first)
        except StaleDocument:
            for id_, _ in changed:
                self._written.drop((citizen_id, id_))
            raise
        await self._follow(citizen_id, rest)
        for (id_, model), as_written in zip(changed, written, strict=False):
            assert as_written is not None, "a write returns what it wrote"
            etag: str = as_written["_etag"]
            documents.docs[id_] = (model, etag)
            weight = 1 + len(model.applied) if isinstance(model, StoredMatch) else 1
            self._written.put((citizen_id, id_), model, etag, weight)

    async def _follow(self, citizen_id: str, records: list[Operation]) -> None:
        """The records of a line too big for one batch, after the batch that applied it (they
        only list what it changed: the counters and match documents are written already). A
        record moved meanwhile (by hand) is left as it is."""
        for start in range(0, len(records), BATCH_OPERATIONS):
            try:
                await self._store.write_batch(citizen_id, records[start : start + BATCH_OPERATIONS])
            except StaleDocument:
                logger.warning(
                    "records of %s not written: one was moved meanwhile", citizen_id[:12]
                )

    async def _list_already_applied(
        self, already_applied: list[AlreadyApplied], citizen_id: str, received_at: datetime
    ) -> None:
        """A transaction applied before whose record is missing is listed without its effect
        (its record was deleted by hand, or it was a line too big for one batch whose records
        a process died before writing: see :meth:`_follow`); a record that is there stays."""
        limit = asyncio.Semaphore(CONCURRENCY)

        async def write(line: AlreadyApplied) -> None:
            record = listing_record(
                line.txn, line.status, None, citizen_id, line.period, received_at
            )
            async with limit:
                with contextlib.suppress(StaleDocument):  # listed already
                    await self._store.create(dump(record))

        await asyncio.gather(*(write(line) for line in already_applied))


@dataclass
class _Applying:
    """A citizen's lines of a chunk as the attempts at them went: the outcomes of the lines
    applied so far (in order), the lines already applied before this chunk, how many attempts
    began."""

    outcomes: list[str] = field(default_factory=list)
    already_applied: list[AlreadyApplied] = field(default_factory=list)
    attempts: int = 0


@dataclass
class _WritersLock:
    """One citizen's lock, and how many writers hold or wait for it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    writers: int = 0


class _CitizenTurns:
    """Writers of one citizen in this process take turns: one lock per citizen, kept while a
    writer holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, _WritersLock] = {}

    @contextlib.asynccontextmanager
    async def of(self, citizen_id: str) -> AsyncIterator[None]:
        """Hold ``citizen_id``'s turn (waiting for the writers before)."""
        held = self._locks.setdefault(citizen_id, _WritersLock())
        held.writers += 1
        try:
            async with held.lock:
                yield
        finally:
            held.writers -= 1
            if held.writers == 0:
                self._locks.pop(citizen_id, None)
