"""The Service Bus edge of every queue trigger: the message becomes a Delivery, and the work
ends as :mod:`shared.platform.queue_work` says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from functions.root import get_root
from shared.platform.config import Settings
from shared.platform.queue_work import Delivery, Outcome, run
from shared.platform.telemetry import correlation_id, new_correlation_id


def _plain(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def delivery(message: func.ServiceBusMessage, queue: str) -> Delivery:
    properties = {
        str(_plain(k)): _plain(v) for k, v in (message.application_properties or {}).items()
    }
    return Delivery(
        queue=queue,
        message_id=message.message_id or "",
        body=message.get_body(),
        delivery_count=message.delivery_count or 1,
        properties=properties,
        enqueued_at=message.enqueued_time_utc,
    )


async def handle(
    message: func.ServiceBusMessage,
    queue: Callable[[Settings], str],
    work: Callable[[Delivery], Awaitable[None]],
    *,
    max_attempts: Callable[[Settings], int] | None = None,
) -> Outcome:
    """Run ``work`` on ``message``, from the queue that ``queue`` reads from the settings;
    ``max_attempts``: that queue's own reschedule limit (default RESCHEDULE_MAX_ATTEMPTS)."""
    root = get_root()
    item = delivery(message, queue(root.settings))
    token = correlation_id.set(new_correlation_id(message.correlation_id or item.message_id))
    try:
        limit = max_attempts(root.settings) if max_attempts else None
        return await run(item, work, root.queue_ports(max_attempts=limit))
    finally:
        correlation_id.reset(token)
