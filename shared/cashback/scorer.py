"""Acquirers' transactions: the intake (HTTP: validate each line, enqueue) and the scorer (the
queue consumer: the rules of :mod:`shared.cashback.rules` on each citizen's period state).

A batch's lines are checked one by one: a bad line is rejected with its reasons, the others go
on. Accepted lines travel in chunks on ``CASHBACK_TRANSACTIONS_QUEUE`` with the instant the
batch was received (rule 2 asks when a transaction was *processed*: a queue that lags must not
reject what arrived in time).

The scorer finds who had the instrument enabled (the hpan's document), and applies the
transaction to that citizen's documents, all in the citizen's partition:

- one state per (citizen, period): counters, milestones, last transaction time, what the
  ranking orders by. Constant size, whatever the number of transactions.
- one match document per (citizen, match key of rule 4), across periods: what is left of each
  payment of the key (and its period), the reversals waiting for one, and the ids of the key's
  transactions already applied (with the period of their listing record). A reversal takes
  back the earliest payment with something left, in that payment's period (``PERIOD_CLOSED``
  once its grace days are over); a payment applies the reversals that waited for it, in its
  own period, whichever period they are dated in (their records move there). Reversals past
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
does not remember (one batch read; it keeps those it wrote, bounded, see :class:`_Written`; a
payment's match document it does not know is not read but created, the batch failing if it
exists), and one batch write (one more per 100 operations).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.cashback import rules
from shared.cashback.documents import (
    StoredHpan,
    StoredMatch,
    StoredPayment,
    StoredPending,
    StoredPeriod,
    StoredTransaction,
    StoredTransactionRecord,
    dump,
    hpan_pk,
    match_id,
    period_id,
    transaction_record_id,
)
from shared.cashback.store import (
    BATCH_OPERATIONS,
    CashbackStore,
    Document,
    Operation,
    StaleDocument,
    fixed_time,
)
from shared.platform.errors import PermanentError, TransientError
from shared.platform.messaging import Outgoing, Sender

logger = logging.getLogger(__name__)

MAX_LINES = 10_000
CHUNK_LINES = 250  # at most ~140 KB a message (Service Bus Standard: 256 KB)
_ATTEMPTS = 10
_CONCURRENCY = 16
_CODE = r"^[A-Za-z0-9._-]{1,64}$"
_CLOCK_SKEW = timedelta(minutes=5)  # acquirers' clocks may run a little ahead
# Units of the documents remembered (one per document and per transaction id it holds): a
# match document of one payment is about 1.5 KB as a model, so ~75 MB at most.
_REMEMBERED = 100_000


class TransactionIn(BaseModel):
    """One acquirer transaction (amounts in euro cents)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    acquirer_id: str = Field(alias="acquirerId", pattern=r"^[A-Z0-9]{3,32}$")
    id_trx_acquirer: str = Field(alias="idTrxAcquirer", pattern=_CODE)
    hpan: str = Field(pattern=r"^[0-9a-f]{64}$")
    operation_type: rules.OperationType = Field(alias="operationType")
    trx_date: AwareDatetime = Field(alias="trxDate", description="With its UTC offset")
    amount: int = Field(ge=1, le=100_000_000, description="Euro cents")
    merchant_id: str = Field(alias="merchantId", pattern=_CODE)
    terminal_id: str = Field(alias="terminalId", pattern=_CODE)
    correlation_id: str | None = Field(default=None, alias="correlationId", pattern=_CODE)
    circuit_type: str = Field(alias="circuitType", pattern=r"^[0-9]{2}$")

    def rule_view(self) -> rules.Transaction:
        return rules.Transaction(
            id=f"{self.acquirer_id}:{self.id_trx_acquirer}",
            hpan=self.hpan,
            operation=self.operation_type,
            amount=self.amount,
            at=self.trx_date,
            acquirer_id=self.acquirer_id,
            merchant_id=self.merchant_id,
            terminal_id=self.terminal_id,
            correlation_id=self.correlation_id,
        )


class TransactionBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_LINES,
        description="Up to 10,000 transactions; each is checked on its own",
    )


class LineRejection(BaseModel):
    index: int
    reason: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


class BatchAccepted(BaseModel):
    accepted: int
    rejected: list[LineRejection]


class _Chunk(BaseModel):
    """A queue message: accepted lines and when the batch arrived."""

    model_config = ConfigDict(populate_by_name=True)

    received_at: datetime = Field(alias="receivedAt")
    transactions: list[TransactionIn]


_CHUNK = TypeAdapter(_Chunk)


class Intake:
    """Validates acquirers' batches and enqueues what is acceptable."""

    def __init__(self, sender: Sender, queue: str, periods: tuple[rules.Period, ...]) -> None:
        self._sender = sender
        self._queue = queue
        self._periods = periods

    async def submit(
        self, acquirer_id: str, batch: TransactionBatchIn, *, now: datetime
    ) -> BatchAccepted:
        accepted: list[TransactionIn] = []
        rejected: list[LineRejection] = []
        seen: set[str] = set()
        for index, raw in enumerate(batch.transactions):
            try:
                line = TransactionIn.model_validate(raw)
            except ValidationError as error:
                errors = [
                    {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                    for e in error.errors(include_input=False, include_url=False)
                ]
                rejected.append(LineRejection(index=index, reason="INVALID", errors=errors))
                continue
            reason = self._refusal(line, acquirer_id, now)
            if reason is None and line.id_trx_acquirer in seen:
                reason = "DUPLICATE_IN_BATCH"
            if reason is not None:
                rejected.append(LineRejection(index=index, reason=reason))
                continue
            seen.add(line.id_trx_acquirer)
            accepted.append(line)
        messages = [
            _message(acquirer_id, accepted[i : i + CHUNK_LINES], now)
            for i in range(0, len(accepted), CHUNK_LINES)
        ]
        if messages:
            await self._sender.send(self._queue, messages)
        return BatchAccepted(accepted=len(accepted), rejected=rejected)

    def _refusal(self, line: TransactionIn, acquirer_id: str, now: datetime) -> str | None:
        if line.acquirer_id != acquirer_id:
            return "NOT_YOUR_ACQUIRER_ID"
        if line.trx_date > now + _CLOCK_SKEW:
            return "IN_THE_FUTURE"
        found = rules.period_of(self._periods, line.trx_date, now)
        if isinstance(found, rules.Rejection) and line.operation_type == rules.REVERSAL:
            # A reversal after its period (or between periods) may still take back a payment
            # of the period before it, while that one takes transactions.
            before = rules.previous_period(self._periods, line.trx_date)
            if before is not None and rules.accepts(before, now):
                return None
        return found.value if isinstance(found, rules.Rejection) else None


def _message(acquirer_id: str, lines: Sequence[TransactionIn], now: datetime) -> Outgoing:
    # The same lines submitted again make the same message id: duplicate detection drops it,
    # and the scorer's ids drop it anyway if it comes later.
    digest = hashlib.sha256("\n".join(t.id_trx_acquirer for t in lines).encode()).hexdigest()
    payload = {
        "receivedAt": now.isoformat(),
        "transactions": [t.model_dump(mode="json", by_alias=True) for t in lines],
    }
    return Outgoing.json(f"trx:{acquirer_id}:{digest[:40]}", payload)


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
        self._turns: dict[str, _Turn] = {}
        self._written = _Written(_REMEMBERED)

    async def process(self, body: bytes) -> dict[str, int]:
        """Score one chunk; how many transactions ended which way.

        Raises:
            PermanentError: not a chunk of transactions.
            TransientError: a citizen's state kept changing under us (redelivered: what was
                applied already is not applied again).
        """
        try:
            chunk = _CHUNK.validate_json(body)
        except ValidationError as error:
            raise PermanentError(
                f"not a chunk of transactions: {error.error_count()} problem(s)"
            ) from None
        outcomes = await self.score_all(chunk.transactions, received_at=chunk.received_at)
        counted: dict[str, int] = defaultdict(int)
        for outcome in outcomes:
            counted[outcome] += 1
        return dict(counted)

    async def score(self, line: TransactionIn, *, received_at: datetime) -> str:
        """Apply one transaction; ``COUNTED``, ``ALREADY_APPLIED``, ``PENDING`` or why not."""
        [outcome] = await self.score_all([line], received_at=received_at)
        return outcome

    async def score_all(
        self, lines: Sequence[TransactionIn], *, received_at: datetime
    ) -> list[str]:
        """Apply ``lines`` in their order; one outcome per line."""
        outcomes: list[str] = [""] * len(lines)
        documents = _Documents(self._store)
        groups: dict[str, list[_Line]] = defaultdict(list)
        await documents.prefetch(sorted({line.hpan for line in lines}))
        for index, line in enumerate(lines):
            txn = line.rule_view()
            found = rules.period_of(self._periods, txn.at, received_at)
            before = rules.previous_period(self._periods, txn.at) if txn.is_reversal else None
            if isinstance(found, rules.Rejection) and before is None:
                outcomes[index] = found.value
                continue
            lookup = found if isinstance(found, rules.Period) else before
            assert lookup is not None, "a line without a period was rejected above"
            whose = await self._citizen_for(txn, lookup, received_at, documents)
            if isinstance(whose, rules.Rejection):
                outcomes[index] = whose.value
                continue
            groups[whose].append(_Line(index, txn, found, before))
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def one_citizen(pk: str, todo: list[_Line]) -> None:
            async with limit:
                results = await self._apply(pk, todo, received_at, documents.citizen(pk))
            for item, result in zip(todo, results, strict=True):
                outcomes[item.index] = result

        await asyncio.gather(*(one_citizen(pk, todo) for pk, todo in groups.items()))
        return outcomes

    async def _citizen_for(
        self,
        txn: rules.Transaction,
        period: rules.Period,
        received_at: datetime,
        documents: _Documents,
    ) -> str | rules.Rejection:
        """Whose transaction it is: the citizen for whom the instrument counted that day.

        A reversal needs no activation on its own day (a refund after disabling must still
        take the cashback back): it goes to whoever had the instrument enabled before that
        day, the latest first, where it finds its payment or waits for it.
        """
        reason: rules.Rejection | None = None  # the latest citizen's, if none accepts it
        fallback: str | None = None
        for pk in reversed(await documents.citizens(txn.hpan)):  # the latest first
            accepted_at, history = documents.of(pk, txn.hpan)
            if history is None:
                continue
            if txn.is_reversal:
                if any(rules.rome_day(s.enabled_at) < rules.rome_day(txn.at) for s in history):
                    return pk
                fallback = fallback or pk
                continue
            verdict = rules.eligibility(
                [period],
                at=txn.at,
                processed_at=received_at,
                history=history,
                tc_accepted_at=accepted_at,
            )
            if not isinstance(verdict, rules.Rejection):
                return pk
            reason = reason or verdict
        if fallback is not None:
            return fallback
        return reason or rules.Rejection.INSTRUMENT_NOT_ACTIVE

    async def _apply(
        self, pk: str, todo: list[_Line], received_at: datetime, who: _Citizen
    ) -> list[str]:
        """Apply a citizen's lines of a chunk, in order, in consecutive batches (each all or
        nothing, at most ``BATCH_OPERATIONS`` operations); one outcome per line."""
        turn = self._turns.setdefault(pk, _Turn())
        turn.users += 1
        outcomes: list[str] = []
        again: list[tuple[rules.Transaction, str, int]] = []
        try:
            async with turn.lock:
                fresh = False  # after a conflict: read whatever this process does not remember
                for attempt in range(_ATTEMPTS):
                    try:
                        work = await self._load(pk, todo[len(outcomes) :], fresh)
                        while len(outcomes) < len(todo):
                            draft = await self._plan(
                                pk, work, todo[len(outcomes) :], received_at, who
                            )
                            await self._write(pk, work, draft, received_at, who)
                            outcomes += draft.outcomes
                            again += draft.again
                        break
                    except StaleDocument:
                        fresh = True
                        # Another process wrote first: reload, after a pause that spreads
                        # the writers out.
                        await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
                else:
                    raise TransientError(f"the documents of {pk[:12]} kept changing")
        finally:
            turn.users -= 1
            if turn.users == 0:
                self._turns.pop(pk, None)
        await self._record_again(again, pk, received_at)
        return outcomes

    async def _load(self, pk: str, todo: list[_Line], fresh: bool) -> _Work:
        """What applying ``todo`` starts from: the period states and match documents this
        process remembers, the others read in one round trip (a batch read). A payment's
        match document it does not remember is taken as absent (most are new): creating it
        fails the batch if it exists, and the next attempt (``fresh``) reads it."""
        work = _Work()
        unknown: list[str] = []
        reversed_keys = {match_id(rules.match_key(x.txn)) for x in todo if x.txn.is_reversal}
        for id_ in _needed(todo):
            known = self._written.get((pk, id_))
            if known is not None:
                work.docs[id_] = known
            elif fresh or not id_.startswith("match:") or id_ in reversed_keys:
                unknown.append(id_)
            else:
                work.docs[id_] = (None, None)
        await self._read(pk, work, unknown)
        return work

    async def _read(self, pk: str, work: _Work, ids: list[str]) -> None:
        for start in range(0, len(ids), BATCH_OPERATIONS):
            some = ids[start : start + BATCH_OPERATIONS]
            # One id: a point read (a batch read of a missing document costs two round trips).
            found = (
                [await self._store.get(pk, some[0])]
                if len(some) == 1
                else await self._store.get_all(pk, some)
            )
            for id_, raw in zip(some, found, strict=True):
                work.docs[id_] = (None, None) if raw is None else (_model_of(raw), raw["_etag"])

    async def _plan(
        self, pk: str, work: _Work, todo: list[_Line], received_at: datetime, who: _Citizen
    ) -> _Draft:
        """The longest run of ``todo`` whose changes fit one batch, applied to a draft of
        ``work``; reads what a reversal needs that is not there yet (a payment's period)."""
        while True:
            try:
                return self._draft(pk, work, todo, received_at)
            except _Missing as missing:
                await self._read(pk, work, [missing.id])

    def _draft(self, pk: str, work: _Work, todo: list[_Line], received_at: datetime) -> _Draft:
        draft = _Draft(pk, work, received_at)
        for taken, line in enumerate(todo):
            outcome = self._one(draft, line, received_at)
            if draft.operations() <= BATCH_OPERATIONS:
                draft.outcomes.append(outcome)
                continue
            if taken == 0:
                # One line that changes more than a batch holds: a payment that met more
                # waiting reversals than fit. Its documents go in the batch, ETag-guarded; the
                # records it writes and moves follow it (see _write).
                draft.outcomes.append(outcome)
                return draft
            # The draft holds this line's changes too: draft the lines before it again.
            return self._draft(pk, work, todo[:taken], received_at)
        return draft

    def _one(self, draft: _Draft, line: _Line, received_at: datetime) -> str:
        """Rule 4 on one line: its match key's document decides."""
        txn = line.txn
        key = rules.match_key(txn)
        match = draft.match(key)
        if txn.id in match.applied:
            waiting = any(p.txn.id == txn.id for p in match.pending)
            draft.again.append((txn, "PENDING" if waiting else "COUNTED", match.applied[txn.id]))
            return "ALREADY_APPLIED"
        if not txn.is_reversal:
            assert isinstance(line.own, rules.Period), "a payment without a period is rejected"
            return self._pay(draft, match, txn, line.own)
        target = _pick(match)
        if target is not None:
            period = self._by_id.get(target.period)
            if period is None or not rules.accepts(period, received_at):
                return rules.Rejection.PERIOD_CLOSED.value  # its payouts are done
            draft.expire(match)
            self._reverse(draft, match, txn, target, period)
            return "COUNTED"
        # No payment yet: it waits in its own period, or (between periods) in the previous one.
        wait_in = line.own if isinstance(line.own, rules.Period) else line.before
        if wait_in is None or not rules.accepts(wait_in, received_at):
            return rules.Rejection.PERIOD_CLOSED.value
        draft.expire(match)
        match.pending.append(
            StoredPending(
                txn=StoredTransaction.of(txn),
                period=wait_in.id,
                until=rules.pending_until(received_at),
            )
        )
        match.applied[txn.id] = wait_in.id
        draft.record(txn, "PENDING", None, wait_in.id)
        return "PENDING"

    def _pay(
        self, draft: _Draft, match: StoredMatch, txn: rules.Transaction, period: rules.Period
    ) -> str:
        draft.expire(match)
        effect = rules.payment_effect(txn.amount, period)
        match.payments.append(
            StoredPayment(id=txn.id, period=period.id, at=txn.at, remaining=effect.remaining)
        )
        match.applied[txn.id] = period.id
        draft.add(period, txn, effect)
        # Reversals that were waiting for this payment apply now, in their order of arrival,
        # in its period (their records move there).
        while match.pending and (target := _pick(match)) is not None:
            waiting = match.pending.pop(0)
            draft.unrecord(waiting.txn.id, waiting.period)
            self._reverse(draft, match, waiting.txn.rule_view(), target, period)
        return "COUNTED"

    def _reverse(
        self,
        draft: _Draft,
        match: StoredMatch,
        txn: rules.Transaction,
        target: StoredPayment,
        period: rules.Period,
    ) -> None:
        effect = rules.reversal_effect(target.remaining, txn.amount, period)
        at = match.payments.index(target)
        if effect.remaining > 0:
            match.payments[at] = target.model_copy(update={"remaining": effect.remaining})
        else:
            del match.payments[at]  # nothing left to take back: only its id stays
        match.applied[txn.id] = period.id
        draft.add(period, txn, effect)

    async def _write(
        self, pk: str, work: _Work, draft: _Draft, received_at: datetime, who: _Citizen
    ) -> None:
        """The draft's changes in one transactional batch: every state and match document it
        changed (ETag-guarded, or created), and the listing records. ``work`` and this
        process's memory then hold what was written."""
        changed: list[tuple[str, StoredPeriod | StoredMatch]] = []
        for period, tally in draft.tallies.items():
            stored, _ = work.docs.get(period_id(period), (None, None))
            state = (
                stored
                if isinstance(stored, StoredPeriod)
                else StoredPeriod.empty(pk, period, received_at)
            )
            changed.append(
                (
                    period_id(period),
                    state.with_tally(
                        tally,
                        updated_at=received_at,
                        fiscal_code=who.fiscal_code,
                        terms_accepted_at=who.terms_accepted_at,
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
            read_with = work.docs.get(id_, (None, None))[1]
            if read_with is not None:
                document["_etag"] = read_with
            operations.append(("write", document))
        operations += draft.records.values()
        first, rest = operations[:BATCH_OPERATIONS], operations[BATCH_OPERATIONS:]
        try:
            written = await self._store.write_batch(pk, first)
        except StaleDocument:
            for id_, _ in changed:
                self._written.drop((pk, id_))
            raise
        await self._follow(pk, rest)
        for (id_, model), as_written in zip(changed, written, strict=False):
            assert as_written is not None, "a write returns what it wrote"
            etag: str = as_written["_etag"]
            work.docs[id_] = (model, etag)
            weight = 1 + len(model.applied) if isinstance(model, StoredMatch) else 1
            self._written.put((pk, id_), model, etag, weight)

    async def _follow(self, pk: str, records: list[Operation]) -> None:
        """The records of a line too big for one batch, after the batch that applied it (they
        only list what it changed: the counters and match documents are written already). A
        record moved meanwhile (by hand) is left as it is."""
        for start in range(0, len(records), BATCH_OPERATIONS):
            try:
                await self._store.write_batch(pk, records[start : start + BATCH_OPERATIONS])
            except StaleDocument:
                logger.warning("records of %s not written: one was moved meanwhile", pk[:12])

    async def _record_again(
        self, again: list[tuple[rules.Transaction, str, int]], pk: str, received_at: datetime
    ) -> None:
        """A transaction applied before whose record is missing (deleted by hand, or written
        by an older version that wrote records after the counters and died between the two)
        is listed without its effect."""
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def write(txn: rules.Transaction, status: str, period: int) -> None:
            record = _record_of(txn, status, None, pk, period, received_at)
            async with limit:
                with contextlib.suppress(StaleDocument):
                    await self._store.create(dump(record))

        await asyncio.gather(*(write(txn, status, period) for txn, status, period in again))


def _needed(todo: Sequence[_Line]) -> list[str]:
    """The documents applying ``todo`` reads: each line's match document and the state of its
    own period. (A reversal that finds its payment in another period reads that state when
    it does.)"""
    ids: dict[str, None] = {}
    for line in todo:
        ids[match_id(rules.match_key(line.txn))] = None
        if isinstance(line.own, rules.Period):
            ids[period_id(line.own.id)] = None
    return list(ids)


def _model_of(raw: Document) -> StoredPeriod | StoredMatch:
    if raw.get("kind") == "match":
        return StoredMatch.model_validate(raw)
    return StoredPeriod.model_validate(raw)


def _pick(match: StoredMatch) -> StoredPayment | None:
    """Rule 4's pick: the earliest payment of the key with something left, in any period."""
    left = [p for p in match.payments if p.remaining > 0]
    return min(left, key=lambda p: (p.at, p.id)) if left else None


@dataclass(frozen=True)
class _Line:
    """A chunk's line resolved to its citizen: its own period (or why none) and, for a
    reversal, the period before its date (where its payment may have been scored)."""

    index: int
    txn: rules.Transaction
    own: rules.Period | rules.Rejection
    before: rules.Period | None


@dataclass
class _Work:
    """A citizen's documents as last read or written: id -> (model, ETag); (None, None) for
    one that is not there."""

    docs: dict[str, tuple[StoredPeriod | StoredMatch | None, str | None]] = field(
        default_factory=dict
    )


class _Missing(Exception):
    """A draft needs a document that was not read (a reversal's payment in another period)."""

    def __init__(self, id_: str) -> None:
        super().__init__(id_)
        self.id = id_


class _Draft:
    """The changes of a run of lines to a citizen's documents, before they are written: the
    period tallies and match documents changed (copies: ``work`` is left as it was) and the
    listing records to write (upsert) or move away from (delete)."""

    def __init__(self, pk: str, work: _Work, received_at: datetime) -> None:
        self._pk = pk
        self._work = work
        self._received_at = received_at
        self.tallies: dict[int, rules.Tally] = {}
        self.matches: dict[str, StoredMatch] = {}
        self.records: dict[str, Operation] = {}
        self.outcomes: list[str] = []
        self.again: list[tuple[rules.Transaction, str, int]] = []

    def operations(self) -> int:
        return len(self.tallies) + len(self.matches) + len(self.records)

    def _stored(self, id_: str) -> StoredPeriod | StoredMatch | None:
        if id_ not in self._work.docs:
            raise _Missing(id_)
        return self._work.docs[id_][0]

    def match(self, key: rules.MatchKey) -> StoredMatch:
        """The key's document as this draft changes it (marked changed: callers that change
        nothing, an ALREADY_APPLIED or PERIOD_CLOSED line, leave it unwritten)."""
        id_ = match_id(key)
        if id_ in self.matches:
            return self.matches[id_]
        stored = self._stored(id_)
        if isinstance(stored, StoredMatch):
            copied = stored.model_copy(
                update={
                    "payments": list(stored.payments),
                    "pending": list(stored.pending),
                    "applied": dict(stored.applied),
                }
            )
        else:
            copied = StoredMatch(id=id_, pk=self._pk, key=list(key), updated_at=self._received_at)
        return copied

    def expire(self, match: StoredMatch) -> None:
        """``match`` will be written: its reversals that waited a month in vain leave it
        (their ids stay applied, their records stay PENDING: they never apply)."""
        match.pending = [p for p in match.pending if p.until >= self._received_at]
        self.matches[match.id] = match

    def add(self, period: rules.Period, txn: rules.Transaction, effect: rules.Effect) -> None:
        """``txn``'s effect on ``period``'s tally, and its record there."""
        if period.id not in self.tallies:
            stored = self._stored(period_id(period.id))
            self.tallies[period.id] = (
                stored.tally() if isinstance(stored, StoredPeriod) else rules.Tally()
            )
        self.tallies[period.id] = rules.add_effect(self.tallies[period.id], effect, txn, period)
        self.record(txn, "COUNTED", effect, period.id)

    def record(
        self, txn: rules.Transaction, status: str, effect: rules.Effect | None, period: int
    ) -> None:
        record = dump(_record_of(txn, status, effect, self._pk, period, self._received_at))
        self.records[record["id"]] = ("upsert", record)

    def unrecord(self, txn_id: str, period: int) -> None:
        """A waiting reversal's record leaves ``period`` (written by this draft: never)."""
        id_ = transaction_record_id(period, txn_id)
        if self.records.pop(id_, None) is None:
            self.records[id_] = ("delete", {"id": id_, "pk": self._pk})


class _Written:
    """The documents (period states, match documents) this process wrote last, as models with
    their ETags, least recently used out first, bounded by their size (about one unit per
    transaction id they hold): a writer starts from one instead of reading it. Another process
    may have written since; the ETag then refuses the write and the document is read again."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._used = 0
        self._docs: OrderedDict[tuple[str, str], tuple[StoredPeriod | StoredMatch, str, int]] = (
            OrderedDict()
        )

    def get(self, key: tuple[str, str]) -> tuple[StoredPeriod | StoredMatch, str] | None:
        """The document (pk, id) as written, and its ETag (None: not remembered)."""
        found = self._docs.get(key)
        if found is None:
            return None
        self._docs.move_to_end(key)
        return found[0], found[1]

    def put(
        self, key: tuple[str, str], model: StoredPeriod | StoredMatch, etag: str, weight: int
    ) -> None:
        """Remember ``model`` (never changed afterwards) as written with ``etag``."""
        self.drop(key)
        if weight > self._budget:
            return
        self._docs[key] = (model, etag, weight)
        self._used += weight
        while self._used > self._budget:
            _, (_, _, dropped) = self._docs.popitem(last=False)
            self._used -= dropped

    def drop(self, key: tuple[str, str]) -> None:
        found = self._docs.pop(key, None)
        if found is not None:
            self._used -= found[2]


def _record_of(
    txn: rules.Transaction,
    status: str,
    effect: rules.Effect | None,
    pk: str,
    period: int,
    received_at: datetime,
) -> StoredTransactionRecord:
    acquirer_id, _, id_trx = txn.id.partition(":")
    return StoredTransactionRecord.model_validate(
        {
            "id": transaction_record_id(period, txn.id),
            "pk": pk,
            "period": period,
            "sortKey": f"{fixed_time(txn.at)}|{txn.id}",
            "at": txn.at,
            "acquirerId": acquirer_id,
            "idTrxAcquirer": id_trx,
            "operationType": txn.operation,
            "amount": txn.amount,
            "merchantId": txn.merchant_id,
            "status": status,
            "count": effect.count if effect else None,
            "cashback": effect.cashback if effect else None,
            "processedAt": received_at,
        }
    )


@dataclass(frozen=True)
class _Citizen:
    fiscal_code: str | None = None
    terms_accepted_at: datetime | None = None


@dataclass
class _Turn:
    """Writers of one period state in this process take turns."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class _Documents:
    """What the scorer reads to resolve a chunk, each document once."""

    def __init__(self, store: CashbackStore) -> None:
        self._store = store
        self._citizens: dict[str, list[str]] = {}
        self._of: dict[tuple[str, str], tuple[datetime, list[rules.Activation]]] = {}
        self._who: dict[str, _Citizen] = {}

    def citizen(self, pk: str) -> _Citizen:
        return self._who.get(pk, _Citizen())

    async def prefetch(self, hpans: list[str]) -> None:
        """Read the hpans' documents, ``_CONCURRENCY`` at a time (the chunk is then resolved
        line by line, in order, from what was read)."""
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def citizens(hpan: str) -> None:
            async with limit:
                await self.citizens(hpan)

        await asyncio.gather(*(citizens(hpan) for hpan in hpans))

    async def citizens(self, hpan: str) -> list[str]:
        """Who ever enabled ``hpan``; what scoring needs of each (:class:`StoredHolder`) is
        known from then on without another read."""
        if hpan not in self._citizens:
            raw = await self._store.get(hpan_pk(hpan), hpan)
            stored = StoredHpan.model_validate(raw) if raw else None
            self._citizens[hpan] = stored.citizens if stored is not None else []
            for pk, holder in stored.holders.items() if stored is not None else ():
                self._of[(pk, hpan)] = (
                    holder.terms_accepted_at,
                    [rules.Activation(s.enabled_at, s.disabled_at) for s in holder.history],
                )
                self._who.setdefault(pk, _Citizen(holder.fiscal_code, holder.terms_accepted_at))
        return self._citizens[hpan]

    def of(self, pk: str, hpan: str) -> tuple[datetime | None, list[rules.Activation] | None]:
        """When ``pk`` accepted T&C and the instrument's history, as the hpan's document
        holds them (read by :meth:`citizens` first); (None, None) if it holds none."""
        return self._of.get((pk, hpan), (None, None))
