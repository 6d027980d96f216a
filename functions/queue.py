"""The Service Bus edge of every queue trigger: the message becomes a Delivery, and the work
ends as :mod:`shared.platform.queue_work` says.

A queue is bound by its setting's name, once: ``@queue_trigger(bp, "PUSH_QUEUE")`` registers the
trigger on ``%PUSH_QUEUE%`` and hands :func:`handle` the value of the same setting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from functions.root import get_root
from shared.platform.config import Settings, setting_field
from shared.platform.queue_work import Delivery, Outcome, run
from shared.platform.telemetry import correlation_id, new_correlation_id

CONNECTION = "ServiceBusConnection"
"""The connection setting of every queue trigger (``…__fullyQualifiedNamespace`` in Azure)."""

Work = Callable[[Delivery], Awaitable[None]]


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
    work: Work,
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


def queue_trigger(
    bp: func.Blueprint, queue: str, *, max_attempts: str | None = None
) -> Callable[[Work], Work]:
    """Register ``work`` as the function consuming the queue that the setting ``queue`` names.

    The trigger binds ``%queue%`` (the host reads the setting) and :func:`handle` reads the same
    setting from ``Settings``, so the two cannot name different queues. ``max_attempts``: the
    setting holding that queue's own reschedule limit. The function is named after ``work``
    and takes the message as ``msg``; ``work`` gets it as a :class:`Delivery`.

    Raises:
        KeyError: ``queue`` or ``max_attempts`` is not a setting of ``Settings`` (at import).
    """
    queue_field = setting_field(queue)
    attempts_field = setting_field(max_attempts) if max_attempts else None

    def queue_name(settings: Settings) -> str:
        return str(getattr(settings, queue_field))

    def attempts(settings: Settings) -> int:
        return int(getattr(settings, attempts_field or ""))

    def register(work: Work) -> Work:
        async def trigger(msg: func.ServiceBusMessage) -> None:
            await handle(msg, queue_name, work, max_attempts=attempts if attempts_field else None)

        # The host names the function after the Python function and checks its parameters
        # against the bindings: the trigger takes the work's name, not its signature (so no
        # functools.wraps, whose __wrapped__ would show the work's parameters instead).
        trigger.__name__ = work.__name__
        trigger.__qualname__ = work.__qualname__
        trigger.__doc__ = work.__doc__
        bp.service_bus_queue_trigger(
            arg_name="msg", queue_name=f"%{queue}%", connection=CONNECTION
        )(trigger)
        return work

    return register
