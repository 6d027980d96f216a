"""The intake of acquirers' batches (HTTP): each line checked on its own, the acceptable ones
enqueued for the scorer in chunks (:mod:`shared.cashback.chunks`).

A bad line is rejected with its reasons (invalid, another acquirer's, in the future, in no
period that still takes transactions, a duplicate within the batch); the others go on.
"""

from __future__ import annotations

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
            chunk_message(acquirer_id, accepted[i : i + CHUNK_LINES], now)
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
