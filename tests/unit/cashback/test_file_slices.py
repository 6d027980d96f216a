"""A file worked on in slices (issue 24): each invocation works for at most its time, records a
checkpoint and sends a continuation; the file ends as if it had been processed in one pass."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from shared.cashback.chunks import CHUNK_LINES
from shared.cashback.file_intake import FileRecord
from shared.cashback.store import Document
from shared.platform.messaging import Outgoing
from tests.fakes.cashback import MemoryCashbackStore
from tests.fakes.platform import MemorySender
from tests.unit.cashback.test_file_intake import CONTAINER, FILES_QUEUE, NAME, NOW, World, row


class Broker(MemorySender):
    """Keeps what reached the queues, dropping a message id it saw already (Service Bus's
    duplicate detection); ``attempts`` keeps every message sent, dropped or not."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[str] = []
        self.fail_on: str | None = None  # the next send to this queue fails
        self._seen: set[str] = set()
        self._taken = 0

    async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
        if queue == self.fail_on:
            self.fail_on = None
            raise ConnectionError("the broker went away")
        self.attempts.extend(m.message_id for m in messages)
        fresh = [m for m in messages if m.message_id not in self._seen]
        self._seen.update(m.message_id for m in fresh)
        await super().send(queue, fresh)

    def next_continuation(self) -> bytes | None:
        """The oldest continuation not yet delivered, as the files queue would deliver it."""
        waiting = [m for q, m in self.sent if q == FILES_QUEUE]
        if self._taken == len(waiting):
            return None
        self._taken += 1
        return waiting[self._taken - 1].body

    def chunk_ids(self) -> list[str]:
        return [m.message_id for q, m in self.sent if q == "q"]


class Ticker:
    """A clock that moves one second each time it is read: with a slice of one second, every
    send ends a slice."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class FailingStore(MemoryCashbackStore):
    """The first file checkpoint's replace fails, as a worker dying there would."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next_checkpoint = True

    async def replace(self, document: Document) -> Document:
        if self.fail_next_checkpoint and document.get("parts"):
            self.fail_next_checkpoint = False
            raise ConnectionError("the worker died")
        return await super().replace(document)


def file_lines() -> list[str]:
    """Five sends' worth of lines with rejects spread over them (a duplicate within a send)."""
    lines = [row(i) for i in range(CHUNK_LINES * 5 - 7)]
    lines[3] = "garbage"
    lines[4] = row(1)  # DUPLICATE_IN_FILE, near its first
    lines[CHUNK_LINES + 2] = row(9, at="2026-11-30T10:00:00.000+01:00")  # NO_PERIOD
    lines[CHUNK_LINES * 3 + 1] = row(11, code="00002")  # another ABI
    return lines


def sliced(store: MemoryCashbackStore | None = None, seconds: float = 1.0) -> World:
    return World(sender=Broker(), send_chunks=1, slice_seconds=seconds, timer=Ticker(), store=store)


async def drain(world: World) -> FileRecord | None:
    """Deliver continuations until none is left; the last record."""
    assert isinstance(world.sender, Broker)
    record = None
    while (body := world.sender.next_continuation()) is not None:
        record = await world.intake.on_event(body, now=NOW)
    return record


async def one_pass() -> tuple[FileRecord, list[str], bytes]:
    world = World(sender=Broker(), send_chunks=1)
    record = await world.intake.on_event(world.deliver(file_lines()), now=NOW)
    assert record is not None
    assert isinstance(world.sender, Broker)
    return record, world.sender.chunk_ids(), world.blobs.blobs[(CONTAINER, NAME + ".report.csv")]


def counts(record: FileRecord) -> tuple[str, int, int, int]:
    return (record.status, record.lines, record.accepted, record.rejected)


def report_of(world: World) -> bytes:
    return world.blobs.blobs[(CONTAINER, NAME + ".report.csv")]


def parts_left(world: World) -> list[str]:
    return [name for _, name in world.blobs.blobs if ".part" in name]


@pytest.mark.parametrize("seconds", [1.0, 2.0])
async def test_a_file_in_slices_makes_the_same_chunks_counts_and_report_as_one_pass(
    seconds: float,
) -> None:
    whole, whole_ids, whole_report = await one_pass()
    world = sliced(seconds=seconds)
    first = await world.intake.on_event(world.deliver(file_lines()), now=NOW)
    assert first is not None
    assert first.status == "PROCESSING"
    assert first.consumed < len(file_lines())
    record = await drain(world)
    assert record is not None
    assert isinstance(world.sender, Broker)
    assert counts(record) == counts(whole) == ("DONE", CHUNK_LINES * 5 - 7, CHUNK_LINES * 5 - 11, 4)
    assert world.sender.chunk_ids() == whole_ids
    assert report_of(world) == whole_report
    assert [r.split(";")[:2] for r in whole_report.decode().splitlines()[1:]] == [
        ["4", "COLUMNS"],
        ["5", "DUPLICATE_IN_FILE"],
        [str(CHUNK_LINES + 3), "NO_PERIOD"],
        [str(CHUNK_LINES * 3 + 2), "NOT_THE_FILES_ACQUIRER_CODE"],
    ]
    # one slice per send with a one-second slice, two sends per slice with two
    assert record.parts == {1.0: 4, 2.0: 2}[seconds]
    assert parts_left(world) == []


async def test_a_slice_that_dies_after_its_send_before_its_checkpoint_counts_nothing_twice() -> (
    None
):
    whole, whole_ids, whole_report = await one_pass()
    world = sliced(store=FailingStore())
    body = world.deliver(file_lines())
    with pytest.raises(ConnectionError):
        await world.intake.on_event(body, now=NOW)
    assert isinstance(world.sender, Broker)
    assert len(world.sender.chunk_ids()) == 1  # the first send went out before the death
    record = await world.intake.on_event(body, now=NOW)  # the event, redelivered
    assert record is not None
    record = await drain(world)
    assert record is not None
    assert counts(record) == counts(whole)
    # the redelivered slice sent its chunk again under the same id: the broker dropped it
    assert world.sender.attempts.count(whole_ids[0]) == 2
    assert world.sender.chunk_ids() == whole_ids
    assert report_of(world) == whole_report


async def test_a_slice_that_dies_after_its_checkpoint_is_continued_by_the_redelivery() -> None:
    whole, whole_ids, whole_report = await one_pass()
    world = sliced()
    assert isinstance(world.sender, Broker)
    world.sender.fail_on = FILES_QUEUE  # the continuation's send
    body = world.deliver(file_lines())
    with pytest.raises(ConnectionError):
        await world.intake.on_event(body, now=NOW)
    assert world.sender.next_continuation() is None
    record = await world.intake.on_event(body, now=NOW)  # finds the checkpoint: continues it
    assert record is not None
    assert record.consumed > 0
    record = await drain(world)
    assert record is not None
    assert counts(record) == counts(whole)
    assert world.sender.chunk_ids() == whole_ids
    assert report_of(world) == whole_report


async def test_a_duplicate_continuation_changes_nothing() -> None:
    whole, whole_ids, whole_report = await one_pass()
    world = sliced()
    assert isinstance(world.sender, Broker)
    await world.intake.on_event(world.deliver(file_lines()), now=NOW)
    continuation = world.sender.next_continuation()
    assert continuation is not None
    middle = await world.intake.on_event(continuation, now=NOW)
    assert middle is not None
    sent_before = list(world.sender.sent)
    again = await world.intake.on_event(continuation, now=NOW)  # mid-file, delivered twice
    assert again is not None
    assert (again.consumed, again.accepted) == (middle.consumed, middle.accepted)
    assert world.sender.sent == sent_before  # its re-sent continuation was a duplicate
    record = await drain(world)
    assert record is not None
    sent_at_the_end = list(world.sender.sent)
    done = await world.intake.on_event(continuation, now=NOW)  # after the end
    assert done is not None
    assert (counts(done), done.consumed) == (counts(record), record.consumed)
    assert world.sender.sent == sent_at_the_end
    assert counts(record) == counts(whole)
    assert world.sender.chunk_ids() == whole_ids
    assert report_of(world) == whole_report


async def test_a_continuation_is_no_new_file() -> None:
    world = sliced()
    assert isinstance(world.sender, Broker)
    await world.intake.on_event(world.deliver(file_lines()), now=NOW)
    body = world.sender.next_continuation()
    assert body is not None
    event = json.loads(body)
    assert event["subject"].endswith(f"/blobs/{NAME}")
    assert event["checkpoint"] == CHUNK_LINES + 2  # a send's 250 accepted lines and 2 rejects


async def test_a_duplicate_across_a_checkpoint_is_enqueued_not_reported() -> None:
    # The duplicate window starts again with each slice: a line repeating one of an earlier
    # slice goes to the scorer (which counts its transaction id once), not to the report.
    lines = [row(i) for i in range(CHUNK_LINES + 5)]
    lines[CHUNK_LINES + 2] = row(1)
    whole = World(sender=Broker(), send_chunks=1)
    whole_record = await whole.intake.on_event(whole.deliver(lines), now=NOW)
    world = sliced()
    await world.intake.on_event(world.deliver(lines), now=NOW)
    record = await drain(world)
    assert whole_record is not None
    assert record is not None
    assert whole.report() == [[str(CHUNK_LINES + 3), "DUPLICATE_IN_FILE", ""]]
    assert world.report() == []
    assert (record.accepted, record.rejected) == (whole_record.accepted + 1, 0)
    assert world.sent_ids().count("T1") == 2
