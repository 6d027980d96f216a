"""The outbox: a state change and the events it must publish are one document write.

A service puts events in the ``outbox`` field of the document it writes (:func:`add_events`).
After the write, :meth:`Outbox.publish` sends them (``message_id`` = the event id, so a re-send is
dropped by duplicate detection) and clears the field with an ETag-conditioned replace. A timer
calls :meth:`Outbox.sweep` for documents whose outbox is still full (the broker was down, or the
process died between the write and the send).

A hot path may leave the clearing to the sweep (``publish(..., clear_now=False)``): it saves the
request a write, and the sweep clears those events later. It may also leave the send until after
its response (:meth:`Outbox.publish_soon`): the events are in the committed document already, so
the request need not wait for the broker; one background flush per process sends what all
requests handed it in the last :data:`LINGER_SECONDS`, in one batch per queue.

An :class:`Outbox` remembers the ids of the last events it sent (:data:`REMEMBERED` by
default; the broker acknowledged them), and does not send those again: the sweep of the process
that sent them only clears them. Any other process re-sends what it finds before clearing it (the
broker drops the copies by message id while they are inside its duplicate-detection window, ten
minutes by default; past it, consumers deduplicate by event id as for any at-least-once
delivery). Until then later writes of the document carry the events over: an outbox holding more
than :data:`CLEAR_NOW_PAST` events is cleared at once anyway.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError
from cachetools import FIFOCache
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.platform.cosmos import StaleDocument, guarded, replace_unchanged
from shared.platform.errors import DependencyError
from shared.platform.messaging import Outgoing, Sender

logger = logging.getLogger(__name__)

CLEAR_NOW_PAST = 8
REMEMBERED = 65_536  # ids of events sent by this process (a minute of 1,000 events a second)
LINGER_SECONDS = 0.003  # publish_soon: how long a flush gathers events before it sends
MAX_WAITING = 10_000  # publish_soon: events held for the flush at most (the rest: the sweep)
_SWEEP_CONCURRENCY = 16


class Event(BaseModel):
    """An event waiting in a document's outbox."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    type: str
    queue: str
    data: dict[str, Any]
    created_at: datetime = Field(alias="createdAt")

    @classmethod
    def new(cls, type_: str, queue: str, data: dict[str, Any], *, now: datetime) -> Event:
        return cls(id=str(uuid.uuid4()), type=type_, queue=queue, data=data, created_at=now)

    def outgoing(self) -> Outgoing:
        payload = {
            "id": self.id,
            "type": self.type,
            "createdAt": self.created_at.isoformat(),
            "data": self.data,
        }
        return Outgoing.json(self.id, payload, properties={"type": self.type})


_TIME = TypeAdapter(datetime)


def _as_json_time(moment: datetime) -> str:
    """The form pydantic stores datetimes in, so string comparison in queries orders them."""
    return str(_TIME.dump_python(moment, mode="json"))


def add_events(document: dict[str, Any], events: list[Event]) -> dict[str, Any]:
    """Append ``events`` to ``document``'s outbox (in place) and return it."""
    outbox = document.setdefault("outbox", [])
    outbox.extend(e.model_dump(mode="json", by_alias=True) for e in events)
    return document


def pending(document: dict[str, Any]) -> list[Event]:
    return [Event.model_validate(raw) for raw in document.get("outbox") or []]


def _long(document: dict[str, Any]) -> bool:
    """Whether the outbox is sent and cleared whole even on a hot path."""
    return len(document.get("outbox") or []) > CLEAR_NOW_PAST


class Outbox:
    """Publishes and clears outboxes of documents in one container."""

    def __init__(
        self,
        container: ContainerProxy,
        sender: Sender,
        *,
        partition_key: str,
        timeout: float,
        remembered: int = REMEMBERED,
    ) -> None:
        self._c = container
        self._sender = sender
        self._pk_field = partition_key.lstrip("/")
        self._timeout = timeout
        self._sent: FIFOCache[str, None] = FIFOCache(remembered)  # the last sent event ids
        self._soon: list[Event] = []  # handed to publish_soon, not taken by a flush yet
        self._flush: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()  # long outboxes, published whole

    async def publish(
        self,
        document: dict[str, Any],
        *,
        clear_now: bool = True,
        only: Collection[Event] | None = None,
    ) -> bool:
        """Send the document's pending events and clear them; False if the broker is down.

        The state change has happened already, so a send failure is not the caller's error:
        the sweep sends the events later. ``clear_now=False`` leaves the clearing to the sweep
        (see the module docstring) unless more than :data:`CLEAR_NOW_PAST` events wait.
        ``only`` (with ``clear_now=False``): send just these events, the ones the caller's write
        added (as the caller built them: not parsed again); the others stay for the sweep. A
        long outbox is sent and cleared whole.
        """
        clear_now = clear_now or _long(document)  # then all go, and are cleared
        events = list(only) if only is not None and not clear_now else pending(document)
        if not events:
            return True
        try:
            for queue, messages in self._unsent(events).items():
                await self._sender.send(queue, messages)
                self._remember(m.message_id for m in messages)
        except DependencyError as error:
            logger.warning(
                "outbox of %s not sent yet (%s); the sweep will retry", document.get("id"), error
            )
            return False
        if clear_now:
            await self._clear(document, {e.id for e in events})
        return True

    def publish_soon(
        self, document: dict[str, Any], *, only: Collection[Event] | None = None
    ) -> None:
        """:meth:`publish` with ``clear_now=False``, after the caller has answered.

        The caller's write committed the events, so a request need not wait for the broker:
        they go in the next flush (at most :data:`LINGER_SECONDS` later, with every other
        request's), and the ids are remembered once the broker took them. If the broker is
        down, the process dies first or more than :data:`MAX_WAITING` events wait, the sweep
        sends them (and no 2xx ever meant they were on the queue: that is the outbox). An
        outbox longer than :data:`CLEAR_NOW_PAST` is published and cleared whole, also in
        the background.
        """
        if _long(document):
            task = asyncio.create_task(self.publish(document))
            self._background.add(task)
            task.add_done_callback(self._finished)
            return
        events = list(only) if only is not None else pending(document)
        if len(self._soon) + len(events) > MAX_WAITING:
            logger.warning(
                "outbox of %s left to the sweep: %d events wait for the flush",
                document.get("id"),
                len(self._soon),
            )
            return
        self._soon.extend(events)
        if self._flush is None or self._flush.get_loop() is not asyncio.get_running_loop():
            # (a flush left in a closed loop never finishes: tests run one loop each)
            self._flush = asyncio.create_task(self._flushing())

    async def _flushing(self) -> None:
        """Send what publish_soon gathered, in turns, until nothing waits."""
        try:
            await asyncio.sleep(LINGER_SECONDS)
            while self._soon:
                taken, self._soon = self._soon, []
                for queue, messages in self._unsent(taken).items():
                    try:
                        await self._sender.send(queue, messages)
                    except DependencyError as error:
                        logger.warning(
                            "%d events for %s not sent yet (%s); the sweep will send them",
                            len(messages),
                            queue,
                            error,
                        )
                    except Exception:  # never silently; they wait in their outboxes
                        logger.exception(
                            "%d events for %s not sent; the sweep will send them",
                            len(messages),
                            queue,
                        )
                    else:
                        self._remember(m.message_id for m in messages)
        finally:
            self._flush = None

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "a background outbox publish failed; the sweep will retry",
                exc_info=task.exception(),
            )

    async def drain(self) -> None:
        """Wait for what publish_soon started (shutdown, tests)."""
        loop = asyncio.get_running_loop()
        if self._flush is not None and self._flush.get_loop() is not loop:
            self._flush = None  # its loop is gone; what it held waits in self._soon
        self._background = {t for t in self._background if t.get_loop() is loop}
        while self._flush is not None or self._background:
            await asyncio.gather(
                *([self._flush] if self._flush else []), *self._background, return_exceptions=True
            )

    def _unsent(self, events: Iterable[Event]) -> dict[str, list[Outgoing]]:
        """The messages of ``events`` by queue, but for those acknowledged already (those
        are only cleared)."""
        by_queue: dict[str, list[Outgoing]] = defaultdict(list)
        for event in events:
            if event.id not in self._sent:
                by_queue[event.queue].append(event.outgoing())
        return by_queue

    def _remember(self, ids: Iterable[str]) -> None:
        for sent in ids:
            self._sent[sent] = None

    async def _clear(self, document: dict[str, Any], sent: set[str]) -> None:
        doc_id, pk = document["id"], document[self._pk_field]
        for _ in range(5):
            remaining = [e for e in document.get("outbox") or [] if e["id"] not in sent]
            try:
                await replace_unchanged(self._c, {**document, "outbox": remaining}, self._timeout)
                return
            except StaleDocument:
                try:
                    async with guarded(self._timeout):
                        document = await self._c.read_item(doc_id, partition_key=pk)
                except CosmosResourceNotFoundError:
                    return
            except DependencyError as error:
                # Sent but not cleared: the sweep re-sends and duplicate detection drops it.
                logger.warning("outbox of %s sent but not cleared: %s", doc_id, error)
                return
        logger.warning("outbox of %s not cleared after repeated conflicts", doc_id)

    async def sweep(self, *, now: datetime, older_than: timedelta, limit: int = 500) -> int:
        """Publish outboxes whose oldest event is older than ``older_than``; return how many."""
        cutoff = _as_json_time(now - older_than)
        query = (
            "SELECT * FROM c WHERE IS_DEFINED(c.outbox) AND ARRAY_LENGTH(c.outbox) > 0 "
            "AND c.outbox[0].createdAt <= @cutoff"
        )
        documents: list[dict[str, Any]] = []
        async with guarded(self._timeout * 4):
            async for raw in self._c.query_items(
                query, parameters=[{"name": "@cutoff", "value": cutoff}]
            ):
                documents.append(raw)
                if len(documents) >= limit:
                    break
        # Several at once: their sends share transfers (see ServiceBusSender) and the clears
        # overlap, so a sweep after a busy minute takes seconds, not minutes.
        bound = asyncio.Semaphore(_SWEEP_CONCURRENCY)

        async def publish(document: dict[str, Any]) -> bool:
            async with bound:
                return await self.publish(document)

        return sum(await asyncio.gather(*(publish(d) for d in documents)))
