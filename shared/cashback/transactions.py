"""Acquirers' transactions: the intake (HTTP: validate each line, enqueue) and the scorer (the
queue consumer: the rules of :mod:`shared.cashback.rules` on each citizen's period state).

A batch's lines are checked one by one: a bad line is rejected with its reasons, the others go
on. Accepted lines travel in chunks on ``CASHBACK_TRANSACTIONS_QUEUE`` with the instant the
batch was received (rule 2 asks when a transaction was *processed*: a queue that lags must not
reject what arrived in time).

The scorer finds who had the instrument enabled (the hpan's document), and applies the
transaction to that citizen's state in the transaction's period: one document per (citizen,
period) holding the counters, the milestones, what is left of each payment for reversals to
match, reversals waiting for their payment, and the ids already applied. One ETag-conditioned
write applies a chunk's transactions of that citizen, so a transaction delivered twice counts
once and concurrent transactions never lose an update.

The same write carries each applied transaction's record in the citizen's listing (what it
changed): one transactional batch in the citizen's partition, all or nothing. (Past 99
records in one chunk, the rest follow in further batches; one lost in a run that died between
them is listed again, without its effect, when the chunk is delivered again.)

Round trips per chunk and citizen: the hpan's document (it holds each citizen's activation
spans, T&C time and fiscal code: who it is needs nothing else), the period state unless this
process wrote it last (it keeps the states it wrote, bounded, see :class:`_Written`), and the
batch write. An hpan's document written before it held them costs one more read per citizen
(their enrollment and instrument, one batch read).

Known limit: that document grows with the citizen's transactions in the period (about 150
bytes each), so some 10,000 of them fit in Cosmos's 2 MB item; moving the matching state and
the applied ids out to their own documents is the next step for heavier use.
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
from shared.cashback.models import (
    CITIZEN_ID,
    StoredCitizen,
    StoredHpan,
    StoredInstrument,
    StoredPayment,
    StoredPeriod,
    StoredTransactionRecord,
    dump,
    hpan_pk,
    instrument_id,
    period_id,
    transaction_record_id,
)
from shared.cashback.store import CashbackStore, Document, StaleDocument, fixed_time
from shared.errors import PermanentError, TransientError
from shared.messaging import Outgoing, Sender

logger = logging.getLogger(__name__)

MAX_LINES = 10_000
CHUNK_LINES = 250  # at most ~140 KB a message (Service Bus Standard: 256 KB)
_ATTEMPTS = 10
_CONCURRENCY = 16
_CODE = r"^[A-Za-z0-9._-]{1,64}$"
_CLOCK_SKEW = timedelta(minutes=5)  # acquirers' clocks may run a little ahead
# Transactions held by the period states remembered: about 0.65 KB each as a model, so
# ~65 MB (held as parsed documents too, as before, they took twice that).
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
            id=f"{self.acquirer_id}:{self.id_trx_acquirer}", hpan=self.hpan,
            operation=self.operation_type, amount=self.amount, at=self.trx_date,
            acquirer_id=self.acquirer_id, merchant_id=self.merchant_id,
            terminal_id=self.terminal_id, correlation_id=self.correlation_id)


class TransactionBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_LINES,
        description="Up to 10,000 transactions; each is checked on its own")


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

    async def submit(self, acquirer_id: str, batch: TransactionBatchIn, *,
                     now: datetime) -> BatchAccepted:
        accepted: list[TransactionIn] = []
        rejected: list[LineRejection] = []
        seen: set[str] = set()
        for index, raw in enumerate(batch.transactions):
            try:
                line = TransactionIn.model_validate(raw)
            except ValidationError as error:
                errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                          for e in error.errors(include_input=False, include_url=False)]
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
        messages = [_message(acquirer_id, accepted[i:i + CHUNK_LINES], now)
                    for i in range(0, len(accepted), CHUNK_LINES)]
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
    payload = {"receivedAt": now.isoformat(),
               "transactions": [t.model_dump(mode="json", by_alias=True) for t in lines]}
    return Outgoing.json(f"trx:{acquirer_id}:{digest[:40]}", payload)


class Scorer:
    """Applies transactions to citizens' period states (the queue consumer).

    A chunk's transactions are resolved first (whose, which period: the hpans' documents are
    read once per chunk), then applied per (citizen, period) with one
    ETag-conditioned write for all of them. Writers of one state in this process take turns;
    across processes the ETag decides, and the loser reloads and applies again.
    """

    def __init__(self, store: CashbackStore, periods: tuple[rules.Period, ...]) -> None:
        self._store = store
        self._periods = periods
        self._turns: dict[tuple[str, int], _Turn] = {}
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
            raise PermanentError(f"not a chunk of transactions: {error.error_count()} "
                                 "problem(s)") from None
        outcomes = await self.score_all(chunk.transactions, received_at=chunk.received_at)
        counted: dict[str, int] = defaultdict(int)
        for outcome in outcomes:
            counted[outcome] += 1
        return dict(counted)

    async def score(self, line: TransactionIn, *, received_at: datetime) -> str:
        """Apply one transaction; ``COUNTED``, ``ALREADY_APPLIED``, ``PENDING`` or why not."""
        [outcome] = await self.score_all([line], received_at=received_at)
        return outcome

    async def score_all(self, lines: Sequence[TransactionIn], *,
                        received_at: datetime) -> list[str]:
        """Apply ``lines`` in their order; one outcome per line."""
        outcomes: list[str] = [""] * len(lines)
        documents = _Documents(self._store)
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        planned = _Left()
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
            if before is not None:
                found = await self._reversal_period(whose, txn, found, before, received_at,
                                                    documents, planned)
                if isinstance(found, rules.Rejection):
                    outcomes[index] = found.value
                    continue
            assert isinstance(found, rules.Period)
            groups[(whose, found.id)].append(index)
            if not txn.is_reversal:
                planned.add((whose, found.id), txn.id, rules.match_key(txn), txn.at, txn.amount)
        by_id = {p.id: p for p in self._periods}
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def one_state(pk: str, period: rules.Period, indexes: list[int]) -> None:
            async with limit:
                results = await self._apply(pk, period, [lines[i].rule_view() for i in indexes],
                                            received_at, documents)
            for i, result in zip(indexes, results, strict=True):
                outcomes[i] = result

        await asyncio.gather(*(one_state(pk, by_id[period], indexes)
                               for (pk, period), indexes in groups.items()))
        return outcomes

    async def _reversal_period(self, pk: str, txn: rules.Transaction,
                               own: rules.Period | rules.Rejection, before: rules.Period,
                               received_at: datetime, documents: _Documents,
                               planned: _Left) -> rules.Period | rules.Rejection:
        """Where a reversal applies (rule 4): in the previous period if its payment was scored
        there (or comes earlier in this chunk), otherwise in its own period (waiting for its
        payment there). A reversal between periods waits in the previous one. A period whose
        last day + grace days are over takes nothing: its payouts are done."""
        slot = (pk, before.id)
        if not planned.knows(slot):
            parsed = self._written.parsed(slot)
            state = self._written.get(slot)
            if state is None:
                state = await documents.state(pk, before.id)
            if parsed is None and state:
                parsed = StoredPeriod.model_validate(state)
            planned.load(slot, parsed.payments if parsed is not None else [])
        scored = planned.reverse(slot, rules.match_key(txn), txn.amount)
        if not scored and isinstance(own, rules.Period):
            return own
        if not rules.accepts(before, received_at):
            return rules.Rejection.PERIOD_CLOSED
        return before

    async def _citizen_for(self, txn: rules.Transaction, period: rules.Period,
                           received_at: datetime, documents: _Documents
                           ) -> str | rules.Rejection:
        """Whose transaction it is: the citizen for whom the instrument counted that day.

        A reversal needs no activation on its own day (a refund after disabling must still
        take the cashback back): it goes to whoever had the instrument enabled before that
        day, the latest first, where it finds its payment or waits for it.
        """
        reason: rules.Rejection | None = None  # the latest citizen's, if none accepts it
        fallback: str | None = None
        for pk in reversed(await documents.citizens(txn.hpan)):  # the latest first
            accepted_at, history = await documents.of(pk, txn.hpan)
            if history is None:
                continue
            if txn.is_reversal:
                if any(rules.rome_day(s.enabled_at) < rules.rome_day(txn.at)
                       for s in history):
                    return pk
                fallback = fallback or pk
                continue
            verdict = rules.eligibility([period], at=txn.at, processed_at=received_at,
                                        history=history, tc_accepted_at=accepted_at)
            if not isinstance(verdict, rules.Rejection):
                return pk
            reason = reason or verdict
        if fallback is not None:
            return fallback
        return reason or rules.Rejection.INSTRUMENT_NOT_ACTIVE

    async def _apply(self, pk: str, period: rules.Period, txns: list[rules.Transaction],
                     received_at: datetime, documents: _Documents) -> list[str]:
        key = (pk, period.id)
        turn = self._turns.setdefault(key, _Turn())
        turn.users += 1
        who = documents.citizen(pk)
        try:
            async with turn.lock:
                        # The state as this process last wrote it, if it still remembers it: current
                # unless another process wrote since (then the ETag refuses the write).
                raw = self._written.get(key)
                parsed = self._written.parsed(key)  # that state as a model: no parsing again
                read = raw is not None
                for attempt in range(_ATTEMPTS):
                    try:
                        if not read:
                            raw = await self._store.get(pk, period_id(period.id))
                            parsed = None
                        applied = await self._apply_once(pk, period, txns, received_at, who,
                                                         raw, parsed)
                        if applied.state is not None:
                            self._written.put(key, applied.state, applied.parsed)
                        break
                    except StaleDocument:
                        read = False
                        self._written.drop(key)
                        # Another process wrote first: reload, after a pause that spreads
                        # the writers out.
                        await asyncio.sleep(random.uniform(0, 0.01 * 2 ** attempt))
                else:
                    raise TransientError(f"the period state of {pk[:12]} kept changing")
        finally:
            turn.users -= 1
            if turn.users == 0:
                self._turns.pop(key, None)
        await self._record_again(applied, pk, period.id, received_at)
        return applied.outcomes

    async def _apply_once(self, pk: str, period: rules.Period, txns: list[rules.Transaction],
                          received_at: datetime, who: _Citizen, raw: Document | None,
                          parsed: StoredPeriod | None = None) -> _Applied:
        if parsed is not None:
            stored = parsed
        elif raw:
            stored = StoredPeriod.model_validate(raw)
        else:
            stored = StoredPeriod.empty(pk, period.id, received_at)
        ledger = stored.ledger(period)
        known = {p.txn.id: p.txn for p in ledger.pending} | {t.id: t for t in txns}
        result = _Applied()
        for txn in txns:
            if txn.id in ledger.seen:
                result.outcomes.append("ALREADY_APPLIED")
                waiting = any(p.txn.id == txn.id for p in ledger.pending)
                result.again.append((txn, "PENDING" if waiting else "COUNTED"))
                continue
            ledger = ledger.apply(txn, processed_at=received_at)
            for applied_id, effect in ledger.applied:
                result.records[applied_id] = (known[applied_id], "COUNTED", effect)
            if any(p.txn.id == txn.id for p in ledger.pending):
                result.records[txn.id] = (txn, "PENDING", None)
                result.outcomes.append("PENDING")
            else:
                result.outcomes.append("COUNTED")
        if not result.records:
            return result
        # What the ranking orders by travels with the counters (one read for the ranking).
        model = StoredPeriod.of(ledger, pk, updated_at=received_at,
                                fiscal_code=who.fiscal_code,
                                terms_accepted_at=who.terms_accepted_at)
        document = dump(model, raw)
        # The counters and the citizen's listing of what each transaction changed: one
        # transactional batch (all or nothing).
        records = [dump(_record_of(txn, status, effect, pk, period.id, received_at))
                   for txn, status, effect in result.records.values()]
        result.state = await self._store.write_with(document, records)
        result.parsed = model
        return result

    async def _record_again(self, applied: _Applied, pk: str, period: int,
                            received_at: datetime) -> None:
        """A transaction applied before whose record is missing (written by an older version
        that wrote records after the counters, and died between the two) is listed without
        its effect."""
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def write(txn: rules.Transaction, status: str) -> None:
            record = _record_of(txn, status, None, pk, period, received_at)
            async with limit:
                with contextlib.suppress(StaleDocument):
                    await self._store.create(dump(record))

        await asyncio.gather(*(write(txn, status) for txn, status in applied.again))


class _Written:
    """The period states this process wrote last, least recently used out first, bounded by
    their size (about one unit per transaction they hold): a writer starts from one instead of
    reading it. Another process may have written since; the ETag then refuses the write and
    the state is read again."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._used = 0
        self._states: OrderedDict[tuple[str, int],
                                  tuple[Document, int, StoredPeriod | None]] = OrderedDict()

    def get(self, key: tuple[str, int]) -> Document | None:
        """The state as written; where its model is kept (:meth:`parsed`), only its ETag."""
        found = self._states.get(key)
        if found is None:
            return None
        self._states.move_to_end(key)
        return found[0]

    def parsed(self, key: tuple[str, int]) -> StoredPeriod | None:
        """The remembered state as the model it was written from (None: not kept)."""
        found = self._states.get(key)
        return found[2] if found is not None else None

    def put(self, key: tuple[str, int], state: Document,
            parsed: StoredPeriod | None = None) -> None:
        """Remember ``state`` as written, and the model it was dumped from (``parsed``, never
        changed afterwards) so the next writer need not parse it again."""
        self.drop(key)
        if parsed is not None:
            # The model holds the content; of the document only its ETag is needed.
            state = {"_etag": state["_etag"]}
            weight = 1 + len(parsed.seen)
        else:
            weight = 1 + len(state.get("seen") or ())
        if weight > self._budget:
            return
        self._states[key] = (state, weight, parsed)
        self._used += weight
        while self._used > self._budget:
            _, (_, dropped, _) = self._states.popitem(last=False)
            self._used -= dropped

    def drop(self, key: tuple[str, int]) -> None:
        found = self._states.pop(key, None)
        if found is not None:
            self._used -= found[1]


class _Left:
    """What is left of each payment of some (citizen, period) states as a chunk, applied in
    order, will leave it: where its reversals find their payment (rule 4's pick: the earliest
    payment with something left)."""

    def __init__(self) -> None:
        self._left: dict[tuple[str, int], dict[str, list[Any]]] = defaultdict(dict)
        self._loaded: set[tuple[str, int]] = set()

    def knows(self, slot: tuple[str, int]) -> bool:
        return slot in self._loaded

    def load(self, slot: tuple[str, int], payments: Sequence[StoredPayment]) -> None:
        """The payments stored in ``slot`` (before the chunk's own, which are newer)."""
        left = self._left[slot]
        for p in payments:
            left[p.id] = [tuple(p.key), p.at, p.remaining]
        self._loaded.add(slot)

    def add(self, slot: tuple[str, int], id_: str, key: rules.MatchKey, at: datetime,
            amount: int) -> None:
        self._left[slot].setdefault(id_, [key, at, amount])  # stored already: as stored

    def reverse(self, slot: tuple[str, int], key: rules.MatchKey, amount: int) -> bool:
        """Take ``amount`` back from the earliest payment of ``key`` with something left;
        False if there is none."""
        found = [(at, id_) for id_, (k, at, left) in self._left[slot].items()
                 if k == key and left > 0]
        if not found:
            return False
        _, id_ = min(found)
        self._left[slot][id_][2] = max(0, self._left[slot][id_][2] - amount)
        return True


@dataclass
class _Applied:
    outcomes: list[str] = field(default_factory=list)
    records: dict[str, tuple[rules.Transaction, str, rules.Effect | None]] = field(
        default_factory=dict)
    again: list[tuple[rules.Transaction, str]] = field(default_factory=list)
    state: Document | None = None  # the period state as written (None: nothing to write)
    parsed: StoredPeriod | None = None  # the same state as a model


def _record_of(txn: rules.Transaction, status: str, effect: rules.Effect | None, pk: str,
               period: int, received_at: datetime) -> StoredTransactionRecord:
    acquirer_id, _, id_trx = txn.id.partition(":")
    return StoredTransactionRecord.model_validate({
        "id": transaction_record_id(period, txn.id), "pk": pk, "period": period,
        "sortKey": f"{fixed_time(txn.at)}|{txn.id}", "at": txn.at, "acquirerId": acquirer_id,
        "idTrxAcquirer": id_trx, "operationType": txn.operation, "amount": txn.amount,
        "merchantId": txn.merchant_id, "status": status,
        "count": effect.count if effect else None,
        "cashback": effect.cashback if effect else None, "processedAt": received_at})


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
        self._of: dict[tuple[str, str], tuple[datetime | None, list[rules.Activation] | None]] = {}
        self._who: dict[str, _Citizen] = {}
        self._states: dict[tuple[str, int], Document | None] = {}

    def citizen(self, pk: str) -> _Citizen:
        return self._who.get(pk, _Citizen())

    async def state(self, pk: str, period: int) -> Document | None:
        """A citizen's state in ``period`` as stored (None: none)."""
        if (pk, period) not in self._states:
            self._states[(pk, period)] = await self._store.get(pk, period_id(period))
        return self._states[(pk, period)]

    async def prefetch(self, hpans: list[str]) -> None:
        """Read what resolving these hpans' transactions needs, ``_CONCURRENCY`` at a time
        (the chunk is then resolved line by line, in order, from what was read)."""
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def citizens(hpan: str) -> None:
            async with limit:
                await self.citizens(hpan)

        async def of(pk: str, hpan: str) -> None:
            async with limit:
                await self.of(pk, hpan)

        await asyncio.gather(*(citizens(hpan) for hpan in hpans))
        await asyncio.gather(*(of(pk, hpan) for hpan in hpans for pk in self._citizens[hpan]
                               if (pk, hpan) not in self._of))

    async def citizens(self, hpan: str) -> list[str]:
        """Who ever enabled ``hpan``; what scoring needs of each, where the hpan's document
        holds it (:class:`StoredHolder`), is known from then on without another read."""
        if hpan not in self._citizens:
            raw = await self._store.get(hpan_pk(hpan), hpan)
            stored = StoredHpan.model_validate(raw) if raw else None
            self._citizens[hpan] = stored.citizens if stored is not None else []
            for pk, holder in stored.holders.items() if stored is not None else ():
                self._of[(pk, hpan)] = (holder.terms_accepted_at,
                                        [rules.Activation(s.enabled_at, s.disabled_at)
                                         for s in holder.history])
                self._who.setdefault(pk, _Citizen(holder.fiscal_code,
                                                  holder.terms_accepted_at))
        return self._citizens[hpan]

    async def of(self, pk: str, hpan: str
                 ) -> tuple[datetime | None, list[rules.Activation] | None]:
        """When ``pk`` accepted T&C (None: never) and the instrument's history (None: unknown).

        From the hpan's document if it holds them (read by :meth:`citizens` first); else, for
        a citizen who enabled it before holders were kept, both in one round trip (one
        partition).
        """
        key = (pk, hpan)
        if key not in self._of:
            raw_citizen, raw_instrument = await self._store.get_all(
                pk, [CITIZEN_ID, instrument_id(hpan)])
            accepted_at = None
            if raw_citizen is not None:
                citizen = StoredCitizen.model_validate(raw_citizen)
                accepted_at = citizen.terms_accepted_at
                self._who[pk] = _Citizen(citizen.fiscal_code, accepted_at)
            history = None
            if raw_instrument is not None:
                instrument = StoredInstrument.model_validate(raw_instrument)
                history = [rules.Activation(s.enabled_at, s.disabled_at)
                           for s in instrument.history]
            self._of[key] = (accepted_at, history)
        return self._of[key]
