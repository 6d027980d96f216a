"""How queue work ends (shared/platform/queue_work.py), with in-memory ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.platform.clock import FixedClock
from shared.platform.errors import DependencyError, PermanentError, RescheduleLater, TransientError
from shared.platform.failed_work import failed_work_id, replay
from shared.platform.queue_work import Delivery, Policy, Ports, backoff, retry_transient, run
from tests.fakes.platform import MemoryFailedWork, MemorySender

START = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def ports() -> Ports:
    return Ports(
        failed=MemoryFailedWork(),
        sender=MemorySender(),
        clock=FixedClock(START),
        policy=Policy(max_delivery_count=5, max_attempts=3, base_delay=60, max_delay=600),
    )


def delivery(count: int = 1, **properties: object) -> Delivery:
    return Delivery(
        queue="q",
        message_id="m-1",
        body=b'{"a":1}',
        delivery_count=count,
        properties=dict(properties),
    )


async def test_success_completes() -> None:
    p = ports()
    seen: list[Delivery] = []

    async def work(d: Delivery) -> None:
        seen.append(d)

    assert await run(delivery(), work, p) == "completed"
    assert len(seen) == 1
    assert p.failed.items == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "error", [TransientError("429"), DependencyError("cosmos", "down"), KeyError("a bug")]
)
async def test_transient_and_unexpected_errors_redeliver_before_the_last_delivery(
    error: Exception,
) -> None:
    p = ports()

    async def work(d: Delivery) -> None:
        raise error

    with pytest.raises(type(error)):
        await run(delivery(count=4), work, p)
    assert p.failed.items == {}  # type: ignore[attr-defined]


async def test_transient_error_on_the_last_delivery_becomes_failed_work() -> None:
    p = ports()

    async def work(d: Delivery) -> None:
        raise TransientError("still 503")

    assert await run(delivery(count=5), work, p) == "failed"
    item = p.failed.items[failed_work_id("q", "m-1")]  # type: ignore[attr-defined]
    assert (item.ending, item.reason, item.delivery_count) == (
        "transient-exhausted",
        "still 503",
        5,
    )
    assert item.body == b'{"a":1}'


async def test_permanent_error_is_recorded_at_once_and_idempotently() -> None:
    p = ports()

    async def work(d: Delivery) -> None:
        raise PermanentError("bad content")

    assert await run(delivery(), work, p) == "failed"
    assert await run(delivery(count=2), work, p) == "failed"  # a crash before completion
    assert len(p.failed.items) == 1  # type: ignore[attr-defined]


async def test_reschedule_sends_a_scheduled_copy_with_the_attempt_in_its_id() -> None:
    p = ports()

    async def work(d: Delivery) -> None:
        raise RescheduleLater("EC down")

    assert await run(delivery(), work, p) == "rescheduled"
    [(queue, copy)] = p.sender.sent  # type: ignore[attr-defined]
    assert queue == "q"
    assert copy.message_id == "m-1#1"
    assert copy.scheduled_at == START + timedelta(seconds=60)
    assert copy.properties == {"attempt": 1, "originalMessageId": "m-1"}
    assert copy.body == b'{"a":1}'

    again = Delivery(
        queue="q",
        message_id=copy.message_id,
        body=copy.body,
        delivery_count=1,
        properties=copy.properties,
    )
    assert await run(again, work, p) == "rescheduled"
    second = p.sender.sent[1][1]  # type: ignore[attr-defined]
    assert second.message_id == "m-1#2"
    assert second.scheduled_at == START + timedelta(seconds=120)


async def test_reschedule_past_the_last_attempt_is_failed_work() -> None:
    p = ports()

    async def work(d: Delivery) -> None:
        raise RescheduleLater("EC down", delay_seconds=5)

    last = delivery(attempt=3, originalMessageId="m-0")
    assert await run(last, work, p) == "failed"
    [item] = p.failed.items.values()  # type: ignore[attr-defined]
    assert (item.ending, item.attempts, item.original_message_id) == (
        "reschedule-exhausted",
        4,
        "m-0",
    )
    assert p.sender.sent == []  # type: ignore[attr-defined]


async def test_reschedule_that_cannot_send_is_redelivered() -> None:
    p = ports()
    p.sender.fail_with = DependencyError("servicebus", "down")  # type: ignore[attr-defined]

    async def work(d: Delivery) -> None:
        raise RescheduleLater("EC down")

    with pytest.raises(DependencyError):
        await run(delivery(), work, p)


async def test_replay_sends_the_body_again_under_a_new_id() -> None:
    p = ports()

    async def work(d: Delivery) -> None:
        raise PermanentError("nope")

    await run(delivery(), work, p)
    item_id = failed_work_id("q", "m-1")
    item = await replay(p.failed, p.sender, item_id, now=START)
    [(queue, copy)] = p.sender.sent  # type: ignore[attr-defined]
    assert (queue, copy.message_id, copy.body) == ("q", "m-1:replay:1", b'{"a":1}')
    assert item.replays == [START]


@given(
    st.integers(min_value=1, max_value=40),
    st.floats(min_value=0.1, max_value=100),
    st.floats(min_value=1, max_value=10_000),
)
def test_backoff_grows_and_never_passes_its_cap(attempt: int, base: float, cap: float) -> None:
    delay = backoff(attempt, base, cap)
    assert 0 < delay <= cap
    assert backoff(attempt + 1, base, cap) >= delay


async def test_retry_transient_honours_retry_after_then_gives_up() -> None:
    slept: list[float] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def call() -> str:
        nonlocal calls
        calls += 1
        raise DependencyError("cosmos", "429", retry_after=2.5)

    with pytest.raises(TransientError):
        await retry_transient(call, attempts=3, sleep=sleep)
    assert calls == 3
    assert slept == [2.5, 2.5]


async def test_retry_transient_returns_the_first_success() -> None:
    results = iter([DependencyError("cosmos", "reset", retry_after=0), "ok"])

    async def call() -> str:
        value = next(results)
        if isinstance(value, Exception):
            raise value
        return value

    async def sleep(seconds: float) -> None:
        return None

    assert await retry_transient(call, sleep=sleep) == "ok"


async def test_retry_transient_lets_other_errors_through_at_once() -> None:
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        raise PermanentError("bad content")

    async def sleep(seconds: float) -> None:
        raise AssertionError("no wait expected")

    with pytest.raises(PermanentError):
        await retry_transient(call, attempts=3, sleep=sleep)
    assert calls == 1


async def test_retry_transient_caps_a_long_retry_after_or_reschedules_if_asked() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def call() -> str:
        raise DependencyError("cosmos", "429", retry_after=30)

    with pytest.raises(TransientError):
        await retry_transient(call, attempts=2, max_delay=5.0, sleep=sleep)
    assert slept == [5.0]  # the wait is capped: the invocation does not sit through 30 s
    slept.clear()
    with pytest.raises(RescheduleLater) as caught:
        await retry_transient(call, attempts=2, max_delay=5.0, reschedule=True, sleep=sleep)
    assert caught.value.delay_seconds == 30
    assert slept == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"a": "x\\u0000y"}',
        b'{"a": "\\ud800"}',
        b'{"a": 18446744073709551616}',
        b'{"a": ' + b"1" * 5000 + b"}",
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b"[" * 10_000 + b"]" * 10_000,
    ],
)
async def test_a_message_the_json_decoder_refuses_is_failed_work_before_any_work(
    body: bytes,
) -> None:
    p = ports()
    seen: list[Delivery] = []

    async def work(d: Delivery) -> None:
        seen.append(d)

    hostile = Delivery(queue="q", message_id="m-1", body=body, delivery_count=1)
    assert await run(hostile, work, p) == "failed"
    assert seen == []  # no consumer's own parser meets it (json.loads would take a NUL)
    item = p.failed.items[failed_work_id("q", "m-1")]  # type: ignore[attr-defined]
    assert item.ending == "permanent"
    assert item.reason
    assert item.body == body
