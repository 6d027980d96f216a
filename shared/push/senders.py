"""Who may send notifications, and how much: one usage document per sender per minute.

Only parties of role ``sender`` (public services in the party registry, each with its own key)
send notifications. Each sender has :class:`~shared.parties.models.SendLimits` in its registry
entry: requests and recipients per minute. The count lives in Cosmos, so it holds across every
instance of the app: one small document per sender per UTC minute in the push container
(``id`` = partition key = ``sender:<partyId>:<minute>``, so no partition grows), which is also
the record of what each sender sent (``requests`` and ``recipients``).

A request is counted by ONE conditional patch: Cosmos increments both counters only if the
document still has room for this request (a filter predicate evaluated atomically with the
write), so concurrent requests on many instances can never together exceed the limit, and none
of them has to read first or retry a lost ETag race (docs/decisions/0160). A refused request
counts nothing. The first request of a minute creates the document; of two creators, the one
that loses (409) patches.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from shared.parties.models import Party, SendLimits
from shared.platform.cosmos import guarded
from shared.platform.errors import (
    ConfigurationError,
    DependencyError,
    Invalid,
    TooManyRequests,
)

logger = logging.getLogger(__name__)

#: Kept where the container has TTL enabled: long enough to answer "who sent what, when".
USAGE_RETENTION_SECONDS = 400 * 86400
_CREATE_RACES = 3


def minute_of(now: datetime) -> datetime:
    """The UTC minute ``now`` falls in (the rate limit's window)."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def usage_id(sender: str, minute: datetime) -> str:
    return f"sender:{sender}:{minute.strftime('%Y-%m-%dT%H:%MZ')}"


class SenderUsage(Protocol):
    """The per-minute counters of each sender."""

    async def take(
        self, sender: str, minute: datetime, *, recipients: int, limits: SendLimits
    ) -> bool:
        """Count one request of ``recipients`` in ``sender``'s ``minute`` if both counters
        stay within ``limits``; False (nothing counted) if either would go past."""
        ...

    async def give_back(self, sender: str, minute: datetime, *, recipients: int) -> None:
        """Uncount a request that was counted but not sent (the queue refused it)."""
        ...


async def admit(usage: SenderUsage, party: Party, *, recipients: int, now: datetime) -> datetime:
    """Count a request of ``party`` for ``recipients``; the minute it was counted in.

    Raises:
        Invalid: (422) one request names more recipients than the sender may reach in a
            minute: it could never pass.
        TooManyRequests: (429, Retry-After: the next minute) past the sender's limits.
        ConfigurationError: the party is a sender without limits (the registry refuses that).
    """
    limits = party.send_limits
    if party.role != "sender" or limits is None:
        raise ConfigurationError(f"party {party.party_id} is not a sender with sendLimits")
    if recipients > limits.recipients_per_minute:
        raise Invalid(
            f"this sender may reach at most {limits.recipients_per_minute} recipients a minute",
            status=422,
        )
    minute = minute_of(now)
    if not await usage.take(party.party_id, minute, recipients=recipients, limits=limits):
        wait = math.ceil((minute + timedelta(minutes=1) - now).total_seconds())
        logger.info("sender %s is past its rate limit for %s", party.party_id, minute)
        raise TooManyRequests(
            f"past this sender's limits ({limits.requests_per_minute} requests, "
            f"{limits.recipients_per_minute} recipients a minute); retry in {wait} s",
            retry_after=wait,
        )
    return minute


class CosmosSenderUsage:
    """:class:`SenderUsage` in a container with partition key ``/id``."""

    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def take(
        self, sender: str, minute: datetime, *, recipients: int, limits: SendLimits
    ) -> bool:
        item_id = usage_id(sender, minute)
        # Literal integers (a filter predicate takes no parameters): both come from our models.
        room = (
            f"FROM c WHERE c.requests < {int(limits.requests_per_minute)} "
            f"AND c.recipients <= {int(limits.recipients_per_minute) - int(recipients)}"
        )
        for _ in range(_CREATE_RACES):
            try:
                async with guarded(self._timeout):
                    await self._c.patch_item(
                        item_id,
                        partition_key=item_id,
                        patch_operations=_count(1, recipients),
                        filter_predicate=room,
                    )
                return True
            except CosmosAccessConditionFailedError:
                return False
            except CosmosResourceNotFoundError:
                pass  # the minute's first request
            try:
                async with guarded(self._timeout):
                    await self._c.create_item(_usage(sender, minute, recipients))
                return True
            except CosmosResourceExistsError:
                continue  # another request created it first: patch it
        raise DependencyError("cosmos", f"the usage document {item_id} keeps vanishing")

    async def give_back(self, sender: str, minute: datetime, *, recipients: int) -> None:
        item_id = usage_id(sender, minute)
        try:
            async with guarded(self._timeout):
                await self._c.patch_item(
                    item_id, partition_key=item_id, patch_operations=_count(-1, -recipients)
                )
        except CosmosResourceNotFoundError:
            logger.warning("usage %s vanished before a request was given back", item_id)


def _count(requests: int, recipients: int) -> list[dict[str, Any]]:
    return [
        {"op": "incr", "path": "/requests", "value": requests},
        {"op": "incr", "path": "/recipients", "value": recipients},
    ]


def _usage(sender: str, minute: datetime, recipients: int) -> dict[str, Any]:
    return {
        "id": usage_id(sender, minute),
        "kind": "senderUsage",
        "sender": sender,
        "minute": minute.isoformat().replace("+00:00", "Z"),
        "requests": 1,
        "recipients": recipients,
        "ttl": USAGE_RETENTION_SECONDS,
    }
