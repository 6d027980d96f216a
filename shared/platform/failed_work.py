"""Failed work: every queue message that will not succeed ends here, with its reason.

One Cosmos container (partition key ``/id``: each item is its own partition, so nothing grows
without bound). The id is derived from the queue and the message id, so recording the same
message twice (a crash between the write and the completion) leaves one item. Ids, queue names
and listing limits from outside are checked here (400) before any store sees them.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from typing import Any, Literal, Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError
from pydantic import BaseModel, ConfigDict, Field

from shared.platform.cosmos import guarded
from shared.platform.errors import Invalid, NotFound
from shared.platform.messaging import Outgoing, Sender

Ending = Literal["permanent", "transient-exhausted", "reschedule-exhausted", "dead-lettered"]
FAILED_WORK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""What :func:`failed_work_id` makes (a UUID, lowercase): nothing else names an item."""
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,259}")
"""A Service Bus queue name: letters, digits, ``.``, ``_``, ``-``, ``/``; at most 260."""
MAX_LIST = 500


class FailedWork(BaseModel):
    """A message that ended without success, as stored."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    queue: str
    message_id: str = Field(alias="messageId")
    original_message_id: str = Field(alias="originalMessageId")
    body_b64: str = Field(alias="bodyB64")
    properties: dict[str, Any] = Field(default_factory=dict)
    ending: Ending
    reason: str
    attempts: int
    delivery_count: int = Field(alias="deliveryCount")
    failed_at: datetime = Field(alias="failedAt")
    replays: list[datetime] = Field(default_factory=list)

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_b64)


def failed_work_id(queue: str, message_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"failed-work:{queue}:{message_id}"))


def check_id(item_id: str) -> str:
    """``item_id`` if it is a failed-work id; Invalid (400) otherwise (never a store lookup of
    ``/``, ``..`` or 5,000 characters)."""
    if not FAILED_WORK_ID.fullmatch(item_id):
        raise Invalid(
            "a failed-work id is a lowercase UUID, as the listing shows it",
            errors=[{"loc": ["path", "id"], "type": "pattern", "msg": "a lowercase UUID"}],
        )
    return item_id


def check_listing(queue: str | None, limit: int) -> None:
    """Invalid (400) unless ``queue`` is a queue name (or None) and ``limit`` is 1-500."""
    errors = []
    if queue is not None and not QUEUE_NAME.fullmatch(queue):
        errors.append({"loc": ["query", "queue"], "type": "pattern", "msg": "a queue name"})
    if not 1 <= limit <= MAX_LIST:
        errors.append({"loc": ["query", "limit"], "type": "range", "msg": f"1 to {MAX_LIST}"})
    if errors:
        raise Invalid("the listing's parameters are out of bounds", errors=errors)


async def list_items(store: FailedWorkStore, queue: str | None, limit: int) -> list[FailedWork]:
    """The newest ``limit`` items (of ``queue``, if given)."""
    check_listing(queue, limit)
    return await store.list(queue, limit)


class FailedWorkStore(Protocol):
    async def record(self, item: FailedWork) -> None: ...
    async def get(self, item_id: str) -> FailedWork | None: ...
    async def save(self, item: FailedWork) -> None: ...
    async def list(self, queue: str | None, limit: int) -> list[FailedWork]: ...


class CosmosFailedWork:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def record(self, item: FailedWork) -> None:
        async with guarded(self._timeout):
            await self._c.upsert_item(item.model_dump(mode="json", by_alias=True))

    save = record

    async def get(self, item_id: str) -> FailedWork | None:
        try:
            async with guarded(self._timeout):
                raw = await self._c.read_item(item_id, partition_key=item_id)
        except CosmosResourceNotFoundError:
            return None
        return FailedWork.model_validate(raw)

    async def list(self, queue: str | None, limit: int) -> list[FailedWork]:
        # An operator's listing, not a hot path: a cross-partition query is fine here.
        query = "SELECT * FROM c"
        params: list[dict[str, Any]] = []
        if queue:
            query += " WHERE c.queue = @queue"
            params.append({"name": "@queue", "value": queue})
        items: list[FailedWork] = []
        async with guarded(self._timeout * 4):
            async for raw in self._c.query_items(query, parameters=params):
                items.append(FailedWork.model_validate(raw))
        items.sort(key=lambda item: item.failed_at, reverse=True)
        return items[:limit]


async def replay(
    store: FailedWorkStore, sender: Sender, item_id: str, *, now: datetime
) -> FailedWork:
    """Send a failed message to its queue again, as a fresh delivery with a new message id."""
    item = await store.get(check_id(item_id))
    if item is None:
        raise NotFound(f"no failed work {item_id}")
    number = len(item.replays) + 1
    properties = {k: v for k, v in item.properties.items() if k != "attempt"}
    properties["originalMessageId"] = item.original_message_id
    properties["replay"] = number
    await sender.send(
        item.queue,
        [Outgoing(f"{item.original_message_id}:replay:{number}", item.body, properties=properties)],
    )
    item.replays.append(now)
    await store.save(item)
    return item
