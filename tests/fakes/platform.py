"""In-memory fakes of the platform ports."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from shared.platform.failed_work import FailedWork
from shared.platform.messaging import Outgoing
from shared.platform.outbox import Event


class MemorySender:
    """A :class:`Sender` that keeps what it was given (unit tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Outgoing]] = []
        self.fail_with: Exception | None = None

    async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.extend((queue, m) for m in messages)


class MemoryFailedWork:
    def __init__(self) -> None:
        self.items: dict[str, FailedWork] = {}

    async def record(self, item: FailedWork) -> None:
        self.items[item.id] = item

    save = record

    async def get(self, item_id: str) -> FailedWork | None:
        return self.items.get(item_id)

    async def list(self, queue: str | None, limit: int) -> list[FailedWork]:
        found = [i for i in self.items.values() if queue is None or i.queue == queue]
        return sorted(found, key=lambda i: i.failed_at, reverse=True)[:limit]


class HandedEvents:
    """A publisher that keeps the events it was handed (the outbox's ``publish_soon``), in
    order, and sends nothing."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish_soon(
        self, document: dict[str, Any], *, only: Collection[Event] | None = None
    ) -> None:
        self.events.extend(only or [])
