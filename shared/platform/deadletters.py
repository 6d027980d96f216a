"""Messages a broker dead-lettered (lock lost, expiry, past max delivery): list and replay."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from pydantic import BaseModel, ConfigDict, Field

from shared.platform.clients import Clients
from shared.platform.errors import Invalid
from shared.platform.messaging import guarded_bus

MAX_PEEK = 500
MAX_REPLAY = 500


def _check_limit(limit: int, most: int) -> None:
    # A broker asked for "all of them" (or a negative count) is an operator's typo, not a plan.
    if not 1 <= limit <= most:
        raise Invalid(
            f"limit must be a whole number from 1 to {most}",
            errors=[{"loc": ["query", "limit"], "type": "range", "msg": f"1 to {most}"}],
        )


class DeadLetter(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    sequence_number: int | None = Field(alias="sequenceNumber")
    message_id: str | None = Field(alias="messageId")
    reason: str | None
    description: str | None
    delivery_count: int | None = Field(alias="deliveryCount")
    enqueued_at: datetime | None = Field(alias="enqueuedAt")
    body_b64: str = Field(alias="bodyB64")


def _describe(message: ServiceBusReceivedMessage) -> DeadLetter:
    return DeadLetter(
        sequence_number=message.sequence_number,
        message_id=message.message_id,
        reason=message.dead_letter_reason,
        description=message.dead_letter_error_description,
        delivery_count=message.delivery_count,
        enqueued_at=message.enqueued_time_utc,
        body_b64=base64.b64encode(b"".join(message.body)).decode(),
    )


async def peek(clients: Clients, queue: str, limit: int) -> list[DeadLetter]:
    """The oldest ``limit`` (1-500) dead-lettered messages of ``queue``, left in place."""
    _check_limit(limit, MAX_PEEK)
    async with guarded_bus(clients.settings.servicebus_timeout_seconds * 4):
        receiver = clients.servicebus().get_queue_receiver(
            queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER
        )
        async with receiver:
            messages = await receiver.peek_messages(max_message_count=limit)
    return [_describe(m) for m in messages]


async def replay(clients: Clients, queue: str, limit: int) -> list[DeadLetter]:
    """Move up to ``limit`` (1-500) dead-lettered messages back to ``queue`` as fresh
    deliveries.

    Each copy is sent before its dead letter is completed, so a crash in between repeats the
    copy (its message id is derived from the sequence number: duplicate detection drops it).
    """
    _check_limit(limit, MAX_REPLAY)
    moved: list[DeadLetter] = []
    async with (
        guarded_bus(clients.settings.servicebus_timeout_seconds * 6),
        clients.sending(queue) as sender,
    ):
        receiver = clients.servicebus().get_queue_receiver(
            queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=1
        )
        async with receiver:
            messages = await receiver.receive_messages(max_message_count=limit, max_wait_time=1)
            for message in messages:
                properties: dict[Any, Any] = dict(message.application_properties or {})
                original = str(message.message_id)
                properties[b"originalMessageId"] = original
                await sender.send_messages(
                    ServiceBusMessage(
                        b"".join(message.body),
                        content_type=message.content_type,
                        message_id=f"{original}:dlq:{message.sequence_number}",
                        application_properties=properties,
                    )
                )
                await receiver.complete_message(message)
                moved.append(_describe(message))
    return moved
