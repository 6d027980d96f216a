"""The reversal rule on a citizen's documents in memory: the changes a run of lines makes,
before the scorer writes them in one transactional batch.

A citizen's documents (:class:`CitizenDocuments`: period states and match documents, as last
read or written, with their ETags) are never changed in place: a :class:`Draft` holds changed
copies, the period tallies, and the listing records to write or move away. The scorer drafts
the longest run of lines whose changes fit one batch (:func:`draft_run`), writes it, and drafts
the next run from what it wrote.

- A payment adds its score to its period's tally and leaves what is left of it in its match
  key's document; the reversals of its period that waited for it apply now, in their order of
  arrival.
- A reversal takes back the earliest payment of its key with something left in its own
  period (never another period's, as pagoPA did); without one, it waits a month there. A
  reversal of more than is left of its payment is set aside: listed ``SET_ASIDE``, no effect.
- A transaction already in its key's document counts once: ``ALREADY_APPLIED``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from shared.cashback import rules
from shared.cashback.documents import (
    StoredMatch,
    StoredPayment,
    StoredPending,
    StoredPeriod,
    StoredTransaction,
    StoredTransactionRecord,
    dump,
    match_id,
    period_id,
    transaction_record_id,
)
from shared.cashback.store import BATCH_OPERATIONS, Document, Operation, fixed_time


@dataclass(frozen=True)
class ResolvedLine:
    """A chunk's line resolved to its citizen and its own period."""

    index: int
    txn: rules.Transaction
    own: rules.Period


@dataclass
class CitizenDocuments:
    """A citizen's documents as last read or written: id -> (model, ETag); (None, None) for
    one that is not there."""

    docs: dict[str, tuple[StoredPeriod | StoredMatch | None, str | None]] = field(
        default_factory=dict
    )

    def put_read(self, id_: str, raw: Document | None) -> None:
        """Take ``id_`` as read (None: it is not there)."""
        self.docs[id_] = (None, None) if raw is None else (_model_of(raw), raw["_etag"])


class NotLoaded(Exception):
    """A draft needs a document that was not read (a reversal's payment in another period)."""

    def __init__(self, id_: str) -> None:
        super().__init__(id_)
        self.id = id_


class AlreadyApplied(NamedTuple):
    """A line whose transaction its key's document knows: its record is listed again (it may
    be missing) with the status and period it had."""

    txn: rules.Transaction
    status: str
    period: int


def needed_ids(todo: Sequence[ResolvedLine]) -> list[str]:
    """The documents applying ``todo`` reads: each line's match document and the state of its
    own period."""
    ids: dict[str, None] = {}
    for line in todo:
        ids[match_id(rules.match_key(line.txn))] = None
        ids[period_id(line.own.id)] = None
    return list(ids)


def draft_run(
    citizen_id: str,
    documents: CitizenDocuments,
    todo: Sequence[ResolvedLine],
    received_at: datetime,
    periods: Mapping[int, rules.Period],
) -> Draft:
    """The longest run of ``todo`` whose changes fit one batch, applied to a draft of
    ``documents``.

    Raises:
        NotLoaded: a line needs a document ``documents`` does not hold.
    """
    draft = Draft(citizen_id, documents, received_at, periods)
    for taken, line in enumerate(todo):
        outcome = draft.apply(line)
        if draft.operations() <= BATCH_OPERATIONS:
            draft.outcomes.append(outcome)
            continue
        if taken == 0:
            # One line that changes more than a batch holds: a payment that met more
            # waiting reversals than fit. Its documents go in the batch, ETag-guarded; the
            # records it writes and moves follow it (see the scorer's _write).
            draft.outcomes.append(outcome)
            return draft
        # The draft holds this line's changes too: draft the lines before it again.
        return draft_run(citizen_id, documents, todo[:taken], received_at, periods)
    return draft


class Draft:
    """The changes of a run of lines to a citizen's documents, before they are written: the
    period tallies and match documents changed (copies: ``documents`` is left as it was) and
    the listing records to write (upsert) or move away from (delete)."""

    def __init__(
        self,
        citizen_id: str,
        documents: CitizenDocuments,
        received_at: datetime,
        periods: Mapping[int, rules.Period],
    ) -> None:
        self._citizen_id = citizen_id
        self._documents = documents
        self._received_at = received_at
        self._periods = periods
        self.tallies: dict[int, rules.Tally] = {}
        self.matches: dict[str, StoredMatch] = {}
        self.records: dict[str, Operation] = {}
        self.outcomes: list[str] = []
        self.already_applied: list[AlreadyApplied] = []

    def operations(self) -> int:
        return len(self.tallies) + len(self.matches) + len(self.records)

    def apply(self, line: ResolvedLine) -> str:
        """The reversal rule on one line: its match key's document decides. Its outcome:
        ``COUNTED``, ``PENDING``, ``SET_ASIDE``, ``ALREADY_APPLIED`` or ``PERIOD_CLOSED``."""
        txn = line.txn
        key = rules.match_key(txn)
        match = self._match(key)
        if txn.id in match.applied:
            waiting = any(p.txn.id == txn.id for p in match.pending)
            status = "PENDING" if waiting else "COUNTED"
            self.already_applied.append(AlreadyApplied(txn, status, match.applied[txn.id]))
            return "ALREADY_APPLIED"
        own = line.own
        if not rules.accepts(own, self._received_at):
            return rules.Rejection.PERIOD_CLOSED.value  # its payouts are done
        if not txn.is_reversal:
            return self._pay(match, txn, own)
        # Its payment is searched in the reversal's own period only, as pagoPA did.
        target = _pick(match, own.id)
        self._will_write(match)
        if target is not None:
            return self._reverse(match, txn, target, own)
        match.pending.append(
            StoredPending(
                txn=StoredTransaction.of(txn),
                period=own.id,
                until=rules.pending_until(self._received_at),
            )
        )
        match.applied[txn.id] = own.id
        self._record(txn, "PENDING", None, own.id)
        return "PENDING"

    def _pay(self, match: StoredMatch, txn: rules.Transaction, period: rules.Period) -> str:
        self._will_write(match)
        effect = rules.payment_effect(txn.amount, period)
        match.payments.append(
            StoredPayment(id=txn.id, period=period.id, at=txn.at, remaining=effect.remaining)
        )
        match.applied[txn.id] = period.id
        self._add(period, txn, effect)
        # Reversals of its period that were waiting for a payment apply now, in their order of
        # arrival; those of other periods keep waiting.
        still: list[StoredPending] = []
        for waiting in match.pending:
            target = _pick(match, period.id)
            if waiting.period != period.id or target is None:
                still.append(waiting)
                continue
            self._unrecord(waiting.txn.id, waiting.period)
            self._reverse(match, waiting.txn.rule_view(), target, period)
        match.pending = still
        return "COUNTED"

    def _reverse(
        self,
        match: StoredMatch,
        txn: rules.Transaction,
        target: StoredPayment,
        period: rules.Period,
    ) -> str:
        match.applied[txn.id] = period.id
        state = self._stored(period_id(period.id))
        withdrawn_at = state.withdrawn_at if isinstance(state, StoredPeriod) else None
        if rules.set_aside(target.remaining, txn.amount) or (
            # The citizen withdrew after the payment: the period was set to zero then, and a
            # refund of it has nothing left to take back.
            withdrawn_at is not None and target.at <= withdrawn_at
        ):
            self._record(txn, "SET_ASIDE", rules.Effect(count=0, cashback=0), period.id)
            return "SET_ASIDE"
        effect = rules.reversal_effect(target.remaining, txn.amount, period)
        at = match.payments.index(target)
        if effect.remaining > 0:
            match.payments[at] = target.model_copy(update={"remaining": effect.remaining})
        else:
            del match.payments[at]  # nothing left to take back: only its id stays
        self._add(period, txn, effect)
        return "COUNTED"

    def _stored(self, id_: str) -> StoredPeriod | StoredMatch | None:
        if id_ not in self._documents.docs:
            raise NotLoaded(id_)
        return self._documents.docs[id_][0]

    def _match(self, key: rules.MatchKey) -> StoredMatch:
        """The key's document as this draft changes it (a copy; written only if
        :meth:`_will_write` is called: an ALREADY_APPLIED or PERIOD_CLOSED line changes
        nothing)."""
        id_ = match_id(key)
        if id_ in self.matches:
            return self.matches[id_]
        stored = self._stored(id_)
        if isinstance(stored, StoredMatch):
            return stored.model_copy(
                update={
                    "payments": list(stored.payments),
                    "pending": list(stored.pending),
                    "applied": dict(stored.applied),
                }
            )
        return StoredMatch(id=id_, pk=self._citizen_id, key=list(key), updated_at=self._received_at)

    def _will_write(self, match: StoredMatch) -> None:
        """``match`` will be written: its reversals that waited a month in vain leave it
        (their ids stay applied, their records stay PENDING: they never apply)."""
        match.pending = [p for p in match.pending if p.until >= self._received_at]
        self.matches[match.id] = match

    def _add(self, period: rules.Period, txn: rules.Transaction, effect: rules.Effect) -> None:
        """``txn``'s effect on ``period``'s tally, and its record there."""
        if period.id not in self.tallies:
            stored = self._stored(period_id(period.id))
            self.tallies[period.id] = (
                stored.tally() if isinstance(stored, StoredPeriod) else rules.Tally()
            )
        self.tallies[period.id] = rules.add_effect(self.tallies[period.id], effect, txn, period)
        self._record(txn, "COUNTED", effect, period.id)

    def _record(
        self, txn: rules.Transaction, status: str, effect: rules.Effect | None, period: int
    ) -> None:
        record = dump(
            listing_record(txn, status, effect, self._citizen_id, period, self._received_at)
        )
        self.records[record["id"]] = ("upsert", record)

    def _unrecord(self, txn_id: str, period: int) -> None:
        """A waiting reversal's record leaves ``period`` (written by this draft: never)."""
        id_ = transaction_record_id(period, txn_id)
        if self.records.pop(id_, None) is None:
            self.records[id_] = ("delete", {"id": id_, "pk": self._citizen_id})


def listing_record(
    txn: rules.Transaction,
    status: str,
    effect: rules.Effect | None,
    citizen_id: str,
    period: int,
    received_at: datetime,
) -> StoredTransactionRecord:
    """``txn``'s record in ``citizen_id``'s listing of ``period``: what it changed (None: not
    known)."""
    return StoredTransactionRecord.model_validate(
        {
            "id": transaction_record_id(period, txn.id),
            "pk": citizen_id,
            "period": period,
            "sortKey": f"{fixed_time(txn.at)}|{txn.id}",
            "at": txn.at,
            "acquirerId": txn.acquirer_id,
            "acquirerCode": txn.acquirer_code,
            "idTrxAcquirer": txn.id_trx_acquirer,
            "operationType": txn.operation,
            "amount": txn.amount,
            "merchantId": txn.merchant_id,
            "status": status,
            "count": effect.count if effect else None,
            "cashback": effect.cashback if effect else None,
            "processedAt": received_at,
        }
    )


def _model_of(raw: Document) -> StoredPeriod | StoredMatch:
    if raw.get("kind") == "match":
        return StoredMatch.model_validate(raw)
    return StoredPeriod.model_validate(raw)


def _pick(match: StoredMatch, period: int) -> StoredPayment | None:
    """The reversal rule's pick: the earliest payment of the key in ``period`` with something
    left."""
    left = [p for p in match.payments if p.remaining > 0 and p.period == period]
    return min(left, key=lambda p: (p.at, p.id)) if left else None
