"""Sending to Service Bus: events, copies for later, replays. One shared sender per queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusError

from shared.clients import Clients
from shared.errors import DependencyError


@dataclass(frozen=True)
class Outgoing:
    """One message to send: a JSON body, a business ``message_id`` and optional schedule."""

    message_id: str
    body: bytes
    properties: dict[str, Any] = field(default_factory=dict)
    scheduled_at: datetime | None = None
    content_type: str = "application/json"

    @classmethod
    def json(cls, message_id: str, payload: Any, **kwargs: Any) -> Outgoing:
        return cls(message_id, json.dumps(payload, separators=(",", ":")).encode(), **kwargs)


class Sender(Protocol):
    async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
        """Send all of ``messages`` to ``queue`` (batched), or raise DependencyError."""
        ...


@contextlib.asynccontextmanager
async def guarded_bus(timeout: float) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise DependencyError("servicebus", f"no answer within {timeout:g}s") from None
    except ServiceBusError as error:
        raise DependencyError("servicebus", type(error).__name__) from error


class ServiceBusSender:
    """The :class:`Sender` on the process's shared Service Bus senders."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients

    async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
        if not messages:
            return
        timeout = self._clients.settings.servicebus_timeout_seconds
        async with guarded_bus(timeout), self._clients.sending(queue) as sender:
            batch = await sender.create_message_batch()
            for outgoing in messages:
                message = _to_message(outgoing)
                try:
                    batch.add_message(message)
                except ValueError:  # batch full: send it and start another
                    await sender.send_messages(batch)
                    batch = await sender.create_message_batch()
                    batch.add_message(message)
            await sender.send_messages(batch)


def _to_message(outgoing: Outgoing) -> ServiceBusMessage:
    return ServiceBusMessage(
        outgoing.body, message_id=outgoing.message_id, content_type=outgoing.content_type,
        application_properties=cast("dict[str | bytes, Any]", dict(outgoing.properties)),
        scheduled_enqueue_time_utc=outgoing.scheduled_at,
    )


class MemorySender:
    """A :class:`Sender` that keeps what it was given (unit tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Outgoing]] = []
        self.fail_with: Exception | None = None

    async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.extend((queue, m) for m in messages)
