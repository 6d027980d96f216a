"""A chunk: the queue message that carries accepted lines from the intake to the scorer.

Accepted lines travel :data:`CHUNK_LINES` at a time on ``CASHBACK_TRANSACTIONS_QUEUE``, with the
instant their batch was received: the period rule counts when a transaction was *processed*, and
a queue that lags must not reject what arrived in time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.cashback.acquirer_api import TransactionIn
from shared.platform.errors import PermanentError
from shared.platform.messaging import Outgoing
from shared.platform.values import BoundedDateTime

CHUNK_LINES = 250  # at most ~140 KB a message (Service Bus Standard: 256 KB)


class Chunk(BaseModel):
    """A queue message: accepted lines and when the batch arrived."""

    model_config = ConfigDict(populate_by_name=True)

    received_at: BoundedDateTime = Field(alias="receivedAt")
    transactions: list[TransactionIn]


_CHUNK = TypeAdapter(Chunk)


def chunk_message(acquirer_id: str, lines: Sequence[TransactionIn], now: datetime) -> Outgoing:
    """The message carrying ``lines`` of ``acquirer_id``'s batch received at ``now``."""
    # The same lines submitted again make the same message id: duplicate detection drops it,
    # and the scorer's ids drop it anyway if it comes later. The whole duplicate key: a
    # reversal that reuses its payment's id is another line.
    digest = hashlib.sha256("\n".join(t.rule_view().id for t in lines).encode()).hexdigest()
    payload = {
        "receivedAt": now.isoformat(),
        "transactions": [t.model_dump(mode="json", by_alias=True) for t in lines],
    }
    return Outgoing.json(f"trx:{acquirer_id}:{digest[:40]}", payload)


def parse_chunk(body: bytes) -> Chunk:
    """The chunk a message body carries.

    Raises:
        PermanentError: not a chunk of transactions.
    """
    try:
        return _CHUNK.validate_json(body)
    except ValidationError as error:
        raise PermanentError(
            f"not a chunk of transactions: {error.error_count()} problem(s)"
        ) from None
