"""The intake of acquirers' batches (HTTP): each line checked on its own, the acceptable ones
enqueued for the scorer in chunks (:mod:`shared.cashback.chunks`).

A bad line is rejected with its reasons (invalid, another acquirer's, in the future, in no
period that still takes transactions, a duplicate within the batch); the others go on. The
same per-line rules serve the acquirers' files (:mod:`shared.cashback.file_intake`):
:func:`may_send` and :func:`line_refusal`.

Who may send what: an acquirer party sends for itself (lines whose ``acquirerId`` is its party
id) and, under each acquirer code (ABI) its registry entry lists in ``actsFor``, for the
acquirer ids listed there: a circuit such as Bancomat sends on behalf of many acquirers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import ValidationError

from shared.cashback import rules
from shared.cashback.acquirer_api import (
    BatchAccepted,
    LineRejection,
    TransactionBatchIn,
    TransactionIn,
)
from shared.cashback.chunks import CHUNK_LINES, chunk_message
from shared.platform.messaging import Sender

_CLOCK_SKEW = timedelta(minutes=5)  # acquirers' clocks may run a little ahead
ActsFor = Mapping[str, Sequence[str]]
"""An acquirer party's registry entry: acquirer code (ABI) -> the acquirer ids it sends for."""


def may_send(party_id: str, acts_for: ActsFor, acquirer_code: str, acquirer_id: str) -> bool:
    """Whether the party may send a line of ``acquirer_id`` under ``acquirer_code``."""
    return acquirer_id == party_id or acquirer_id in acts_for.get(acquirer_code, ())


def duplicate_key(line: TransactionIn) -> str:
    """What makes two lines of one submission the same transaction: the scorer's id of it, so
    a submission refuses what the scorer would count once anyway."""
    return line.rule_view().id


def line_refusal(
    line: TransactionIn,
    periods: tuple[rules.Period, ...],
    *,
    party_id: str,
    acts_for: ActsFor,
    now: datetime,
) -> str | None:
    """Why ``line`` may not be scored (None: it may): another acquirer's, in the future, in no
    period that still takes transactions."""
    if not may_send(party_id, acts_for, line.acquirer_code, line.acquirer_id):
        return "NOT_YOUR_ACQUIRER_ID"
    if line.trx_date > now + _CLOCK_SKEW:
        return "IN_THE_FUTURE"
    found = rules.period_of(periods, line.trx_date, now)
    if isinstance(found, rules.Rejection) and line.operation_type == rules.REVERSAL:
        # A reversal after its period (or between periods) may still take back a payment
        # of the period before it, while that one takes transactions.
        before = rules.previous_period(periods, line.trx_date)
        if before is not None and rules.accepts(before, now):
            return None
    return found.value if isinstance(found, rules.Rejection) else None


class Intake:
    """Validates acquirers' batches and enqueues what is acceptable."""

    def __init__(self, sender: Sender, queue: str, periods: tuple[rules.Period, ...]) -> None:
        self._sender = sender
        self._queue = queue
        self._periods = periods

    async def submit(
        self,
        acquirer_id: str,
        batch: TransactionBatchIn,
        *,
        now: datetime,
        acts_for: ActsFor | None = None,
    ) -> BatchAccepted:
        """Check each line of the batch of party ``acquirer_id`` (who sends for
        ``acts_for`` too) and enqueue the acceptable ones."""
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
            reason = line_refusal(
                line, self._periods, party_id=acquirer_id, acts_for=acts_for or {}, now=now
            )
            key = duplicate_key(line)
            if reason is None and key in seen:
                reason = "DUPLICATE_IN_BATCH"
            if reason is not None:
                rejected.append(LineRejection(index=index, reason=reason))
                continue
            seen.add(key)
            accepted.append(line)
        messages = [
            chunk_message(acquirer_id, accepted[i : i + CHUNK_LINES], now)
            for i in range(0, len(accepted), CHUNK_LINES)
        ]
        if messages:
            await self._sender.send(self._queue, messages)
        return BatchAccepted(accepted=len(accepted), rejected=rejected)
