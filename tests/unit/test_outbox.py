"""The outbox's background flush across event loops (no Cosmos: it only sends)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from azure.cosmos.aio import ContainerProxy

from shared.platform.outbox import Event, Outbox, add_events
from tests.fakes.platform import MemorySender

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def test_a_flush_left_in_a_closed_loop_does_not_stop_the_next_loops_flush() -> None:
    sender = MemorySender()
    box = Outbox(cast(ContainerProxy, object()), sender, partition_key="/pk", timeout=5)
    first, second = (Event.new("Happened", "q", {}, now=NOW) for _ in range(2))

    def document(event: Event) -> dict[str, Any]:
        return add_events({"id": event.id, "pk": "p1"}, [event])

    async def hand_over() -> None:
        box.publish_soon(document(first))

    async def hand_over_and_drain() -> None:
        box.publish_soon(document(second))
        await asyncio.wait_for(box.drain(), 5)

    gone = asyncio.new_event_loop()
    gone.run_until_complete(hand_over())  # the loop stops before the flush's first step
    gone.close()
    asyncio.run(hand_over_and_drain())
    assert [m.message_id for _, m in sender.sent] == [first.id, second.id]
