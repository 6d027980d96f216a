"""How a piece of queue work ends (docs/architecture.md#queue-work-how-a-message-ends).

A function cannot settle its own message: the host completes it when the function returns and
abandons it when the function raises. :func:`run` turns each ending into one of those two:

- success: return (complete);
- :class:`TransientError` (or any unexpected exception): raise, so the broker redelivers; on the
  last allowed delivery, record failed work and return instead;
- :class:`RescheduleLater`: send a copy scheduled after a backoff, with an attempt counter and
  ``message_id`` = original id + ``#`` + attempt (so duplicate detection keeps it), then return;
  past the last attempt, record failed work;
- :class:`PermanentError`: record failed work with the reason, then return; so does a body
  that is not JSON the bounded decoder accepts, before the work sees it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import stamina

from shared.platform.clock import Clock
from shared.platform.errors import (
    DependencyError,
    Invalid,
    PermanentError,
    QueueWorkError,
    RescheduleLater,
    TransientError,
)
from shared.platform.failed_work import Ending, FailedWork, FailedWorkStore, failed_work_id
from shared.platform.messaging import Outgoing, Sender
from shared.platform.values import decode_json

logger = logging.getLogger(__name__)

Outcome = Literal["completed", "rescheduled", "failed"]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True)
class Delivery:
    """A received message, independent of the trigger's types."""

    queue: str
    message_id: str
    body: bytes
    delivery_count: int
    properties: dict[str, Any] = field(default_factory=dict)
    enqueued_at: datetime | None = None

    @property
    def attempt(self) -> int:
        """How many times this work was rescheduled before (0 for the first copy)."""
        try:
            return int(self.properties.get("attempt", 0))
        except (TypeError, ValueError):
            return 0

    @property
    def original_message_id(self) -> str:
        return str(self.properties.get("originalMessageId") or self.message_id)


@dataclass(frozen=True)
class Policy:
    max_delivery_count: int
    max_attempts: int
    base_delay: float
    max_delay: float


@dataclass(frozen=True)
class Ports:
    failed: FailedWorkStore
    sender: Sender
    clock: Clock
    policy: Policy


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff for ``attempt`` (1-based), capped."""
    return float(min(cap, base * (2 ** (attempt - 1))))


async def run(
    delivery: Delivery, work: Callable[[Delivery], Awaitable[None]], ports: Ports
) -> Outcome:
    """Run ``work`` on ``delivery`` and end it as the module docstring says; a body the JSON
    decoder refuses (:func:`~shared.platform.values.decode_json`: not JSON, a NUL or a lone
    surrogate, an integer past 64 bits, NaN, nesting past the parser's limit) is failed work at
    once, before any work sees it."""
    try:
        decode_json(delivery.body)
    except Invalid as error:
        await _fail(delivery, ports, "permanent", error.detail)
        return "failed"
    try:
        await work(delivery)
        return "completed"
    except PermanentError as error:
        await _fail(delivery, ports, "permanent", error.reason)
        return "failed"
    except RescheduleLater as error:
        return await _reschedule(delivery, ports, error)
    except Exception as error:  # TransientError, DependencyError, or a bug: redeliver
        reason = error.reason if isinstance(error, TransientError) else repr(error)
        if delivery.delivery_count >= ports.policy.max_delivery_count:
            await _fail(delivery, ports, "transient-exhausted", reason)
            return "failed"
        logger.warning(
            "queue %s message %s delivery %d failed, will be redelivered: %s",
            delivery.queue,
            delivery.message_id,
            delivery.delivery_count,
            reason,
        )
        raise


async def _reschedule(delivery: Delivery, ports: Ports, error: RescheduleLater) -> Outcome:
    attempt = delivery.attempt + 1
    if attempt > ports.policy.max_attempts:
        await _fail(delivery, ports, "reschedule-exhausted", error.reason)
        return "failed"
    delay = error.delay_seconds
    if delay is None:
        delay = backoff(attempt, ports.policy.base_delay, ports.policy.max_delay)
    properties = dict(delivery.properties)
    properties.update(attempt=attempt, originalMessageId=delivery.original_message_id)
    copy = Outgoing(
        f"{delivery.original_message_id}#{attempt}",
        delivery.body,
        properties=properties,
        scheduled_at=ports.clock.now() + timedelta(seconds=delay),
    )
    # If this send fails the exception propagates: the message is abandoned and redelivered.
    await ports.sender.send(delivery.queue, [copy])
    logger.info(
        "queue %s message %s rescheduled as attempt %d in %.0fs: %s",
        delivery.queue,
        delivery.message_id,
        attempt,
        delay,
        error.reason,
    )
    return "rescheduled"


async def _fail(delivery: Delivery, ports: Ports, ending: Ending, reason: str) -> None:
    item = FailedWork(
        id=failed_work_id(delivery.queue, delivery.message_id),
        queue=delivery.queue,
        message_id=delivery.message_id,
        original_message_id=delivery.original_message_id,
        body_b64=base64.b64encode(delivery.body).decode(),
        properties=delivery.properties,
        ending=ending,
        reason=reason[:2000],
        attempts=delivery.attempt + 1,
        delivery_count=delivery.delivery_count,
        failed_at=ports.clock.now(),
    )
    await ports.failed.record(item)
    logger.error(
        "queue %s message %s recorded as failed work (%s): %s",
        delivery.queue,
        delivery.message_id,
        ending,
        reason,
    )


async def retry_transient(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 3,
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    on: type[Exception] = DependencyError,
    reschedule: bool = False,
    sleep: Sleep = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
) -> T:
    """Run ``call``, retrying it a few times inside this invocation when it fails with ``on``
    (a failure that should clear in seconds: throttling, a reset, a timeout).

    Before each retry it waits what the failure's ``retry_after`` asked for, or the backoff
    (:func:`backoff` of the attempt, with jitter: half to all of it) when that is longer, but never
    more than ``max_delay``. When the last attempt fails too, its failure becomes
    :class:`TransientError` (its text), so the message is redelivered.

    ``reschedule``: a failure whose ``retry_after`` is longer than ``max_delay``, or that carries
    one on the last attempt, ends at once as :class:`RescheduleLater` after that ``retry_after``
    (the service asked for a wait the invocation should not sit through).

    ``stamina`` runs the retries (so its testing mode, on/off switch and retry instrumentation
    apply); the waits are slept with ``sleep`` at the start of each retry, so that tests can
    record them or move a fake clock instead of waiting.
    """
    waits: list[float] = []  # waits[n]: before retry n + 1, set when the attempt before failed

    def retry(error: BaseException) -> bool | float:
        if not isinstance(error, on):
            return False
        asked = _retry_after(error)
        if reschedule and asked is not None and asked > max_delay:
            return False  # ends as RescheduleLater
        spread = backoff(len(waits) + 1, base_delay, max_delay) * (0.5 + jitter() / 2)
        waits.append(min(max(asked or 0.0, spread), max_delay))
        return 0.0  # stamina itself waits nothing: the retry sleeps its wait first

    # The first attempt runs bare: most calls succeed at once, and entering stamina's loop costs
    # ~70 us of CPU (measured), which a hot path such as a push send should not pay for nothing.
    try:
        return await call()
    except on as error:
        if attempts < 2 or retry(error) is False:
            raise _given_up(error, reschedule) from error
    try:
        async for attempt in stamina.retry_context(on=retry, attempts=attempts - 1, timeout=None):
            with attempt:
                await sleep(waits[attempt.num - 1])
                return await call()
    except on as error:  # the last attempt failed, or the wait asked for is too long
        raise _given_up(error, reschedule) from error
    raise AssertionError("unreachable")


def _given_up(error: Exception, reschedule: bool) -> QueueWorkError:
    asked = _retry_after(error)
    if reschedule and asked is not None:
        return RescheduleLater(str(error), delay_seconds=asked)
    return TransientError(str(error))


def _retry_after(error: Exception) -> float | None:
    """How long the failing dependency asked to wait (``retry_after``), if it said."""
    asked = getattr(error, "retry_after", None)
    return None if asked is None else float(asked)
