"""The file intake: each delivered file processed once, lines checked, rejects reported."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.cashback.chunks import CHUNK_LINES
from shared.cashback.file_intake import (
    FileIntake,
    _Recent,
    blob_created_event,
    event_message,
)
from shared.cashback.rules import parse_periods
from shared.platform.errors import PermanentError
from shared.platform.messaging import Outgoing
from tests.fakes.cashback import MemoryCashbackStore
from tests.fakes.cashback_files import MemoryFileBlobs, MemoryParties, PlainDecryptor, acquirer
from tests.fakes.platform import MemorySender

PERIODS = parse_periods(
    json.dumps(
        [
            {
                "id": 9,
                "from": "2026-12-01",
                "to": "2026-12-31",
                "minTransactions": 3,
                "maxPerTransaction": 1500,
                "maxPerPeriod": 15000,
                "graceDays": 2,
            }
        ]
    )
)
PREFIX = "rtd-"
PARTY = "CIRCUIT"
CONTAINER = "rtd-circuit"
NAME = "CSTAR.00001.TRNLOG.20261210.101500.001.csv.pgp"
RECEIVED = datetime(2026, 12, 10, 10, 15, tzinfo=UTC)
HPAN = "b" * 64
FILES_QUEUE = "files"


def row(n: int, *, code: str = "00001", acq: str = "11111", op: str = "00", **kw: str) -> str:
    at = kw.get("at", "2026-12-09T10:00:00.000+01:00")
    amount = kw.get("amount", "2500")
    hpan = kw.get("hpan", HPAN)
    return f"{code};{op};01;{hpan};{at};T{n};AUTH;;{amount};978;{acq};M1;POS1;40236010;5411"


class World:
    def __init__(
        self,
        acts_for: dict[str, list[str]] | None = None,
        decryptor: Any = None,
        window: int = 1000,
        blobs: MemoryFileBlobs | None = None,
        sender: MemorySender | None = None,
        send_chunks: int = 20,
        slice_seconds: float | None = None,
        timer: Callable[[], float] | None = None,
        store: MemoryCashbackStore | None = None,
    ) -> None:
        self.blobs = blobs or MemoryFileBlobs(block=97)  # lines cross block boundaries
        self.store = store or MemoryCashbackStore()
        self.sender = sender or MemorySender()
        self.intake = FileIntake(
            blobs=self.blobs,
            decryptor=decryptor or PlainDecryptor(),
            store=self.store,
            parties=MemoryParties(acquirer(PARTY, acts_for or {"00001": ["11111", "22222"]})),
            sender=self.sender,
            queue="q",
            periods=PERIODS,
            container_prefix=PREFIX,
            duplicate_window=window,
            send_chunks=send_chunks,
            files_queue=FILES_QUEUE,
            slice_seconds=slice_seconds,
            timer=timer or (lambda: 0.0),
        )

    def deliver(self, lines: list[str], name: str = NAME, container: str = CONTAINER) -> bytes:
        self.blobs.blobs[(container, name)] = ("\n".join(lines) + "\n").encode()
        event = blob_created_event(container, name, RECEIVED, f"http://blob/{name}")
        return event_message(event).body

    def sent_ids(self) -> list[str]:
        return [
            t["idTrxAcquirer"]
            for queue, message in self.sender.sent
            if queue == "q"
            for t in json.loads(message.body)["transactions"]
        ]

    def report(self, name: str = NAME) -> list[list[str]]:
        text = self.blobs.blobs[(CONTAINER, name + ".report.csv")].decode()
        return [r.split(";") for r in text.splitlines()[1:]]


NOW = RECEIVED + timedelta(seconds=3)


async def test_a_file_is_scored_in_chunks_and_its_bad_lines_reported_by_number() -> None:
    world = World()
    lines = [row(i) for i in range(CHUNK_LINES + 10)]
    lines[3] = row(3, amount="12,50")  # not cents
    lines[4] = row(4, code="00002")  # another ABI than the file's
    lines[5] = row(5, acq="99999")  # an acquirer id the party may not send for
    lines[6] = row(1)  # the same transaction again
    lines[7] = row(7, at="2026-11-30T10:00:00.000+01:00")  # before the period
    lines[8] = "garbage"
    body = world.deliver(lines)
    record = await world.intake.on_event(body, now=NOW)
    assert record is not None
    assert (record.status, record.lines, record.accepted, record.rejected) == (
        "DONE",
        CHUNK_LINES + 10,
        CHUNK_LINES + 4,
        6,
    )
    assert [(r[0], r[1]) for r in world.report()] == [
        ("4", "INVALID"),
        ("5", "NOT_THE_FILES_ACQUIRER_CODE"),
        ("6", "NOT_YOUR_ACQUIRER_ID"),
        ("7", "DUPLICATE_IN_FILE"),
        ("8", "NO_PERIOD"),
        ("9", "COLUMNS"),
    ]
    assert "amount" in world.report()[0][2]
    assert [len(json.loads(m.body)["transactions"]) for _, m in world.sender.sent] == [
        CHUNK_LINES,
        4,
    ]
    sent = [json.loads(m.body) for _, m in world.sender.sent]
    assert {s["receivedAt"] for s in sent} == {RECEIVED.isoformat()}
    assert world.sent_ids()[:4] == ["T0", "T1", "T2", "T9"]


async def test_the_same_event_again_or_the_same_name_again_changes_nothing() -> None:
    world = World()
    body = world.deliver([row(1), row(2)])
    first = await world.intake.on_event(body, now=NOW)
    again = await world.intake.on_event(body, now=NOW + timedelta(hours=1))
    # the same name uploaded again (SFTP overwrites): a new event, the record says done
    body = world.deliver([row(1), row(2), row(3)])
    second_upload = await world.intake.on_event(body, now=NOW + timedelta(hours=2))
    assert first is not None
    assert again == first
    assert second_upload == first
    assert world.sent_ids() == ["T1", "T2"]


async def test_a_worker_that_died_midway_is_finished_by_the_redelivery() -> None:
    world = World()
    body = world.deliver([row(i) for i in range(CHUNK_LINES * 2)])
    world.sender.fail_with = ConnectionError("the broker went away")
    with pytest.raises(ConnectionError):
        await world.intake.on_event(body, now=NOW)
    world.sender.fail_with = None
    record = await world.intake.on_event(body, now=NOW)
    assert record is not None
    assert (record.status, record.accepted) == ("DONE", CHUNK_LINES * 2)
    assert len(world.sent_ids()) == CHUNK_LINES * 2


async def test_a_cards_lines_travel_together_in_the_files_order() -> None:
    world = World(send_chunks=2)
    cards = ["c" * 64, "a" * 64]
    lines = [row(i, hpan=cards[i % 2]) for i in range(CHUNK_LINES * 2)]
    record = await world.intake.on_event(world.deliver(lines), now=NOW)
    assert record is not None
    assert (record.status, record.accepted) == ("DONE", CHUNK_LINES * 2)
    chunks = [json.loads(message.body)["transactions"] for _, message in world.sender.sent]
    # two cards alternating line by line: one chunk each, every line once, in the file's order
    assert [{t["hpan"] for t in chunk} for chunk in chunks] == [{cards[1]}, {cards[0]}]
    assert [t["idTrxAcquirer"] for t in chunks[0]] == [
        f"T{i}" for i in range(1, CHUNK_LINES * 2, 2)
    ]
    assert [t["idTrxAcquirer"] for t in chunks[1]] == [
        f"T{i}" for i in range(0, CHUNK_LINES * 2, 2)
    ]


class CountingBlobs(MemoryFileBlobs):
    """Blocks that take a turn of the loop each, as a download and a gpg pipe do; counted."""

    def __init__(self) -> None:
        super().__init__(block=997)
        self.blocks_read = 0

    async def read(self, container: str, name: str) -> AsyncIterator[bytes]:
        async for block in super().read(container, name):
            await asyncio.sleep(0)
            self.blocks_read += 1
            yield block


class SlowSender(MemorySender):
    """Each send takes many turns of the loop; notes the blocks read while it was under way,
    and fails the send numbered ``fail_at`` (from 1)."""

    def __init__(self, blobs: CountingBlobs, fail_at: int | None = None) -> None:
        super().__init__()
        self.blobs = blobs
        self.fail_at = fail_at
        self.sends = 0
        self.read_meanwhile: list[int] = []

    async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
        self.sends += 1
        before = self.blobs.blocks_read
        for _ in range(200):
            await asyncio.sleep(0)
        self.read_meanwhile.append(self.blobs.blocks_read - before)
        if self.sends == self.fail_at:
            raise ConnectionError("the broker went away")
        await super().send(queue, messages)


async def test_the_next_lines_are_read_while_chunks_are_being_sent() -> None:
    blobs = CountingBlobs()
    sender = SlowSender(blobs)
    world = World(blobs=blobs, sender=sender, send_chunks=1)
    body = world.deliver([row(i) for i in range(CHUNK_LINES * 4)])
    record = await world.intake.on_event(body, now=NOW)
    assert record is not None
    assert (record.status, record.accepted) == ("DONE", CHUNK_LINES * 4)
    assert sorted(world.sent_ids()) == sorted(f"T{i}" for i in range(CHUNK_LINES * 4))
    # the first sends overlapped the reading of the lines after them
    assert sender.read_meanwhile[0] > 0


async def test_a_send_that_fails_while_lines_are_read_leaves_the_file_to_the_redelivery() -> None:
    blobs = CountingBlobs()
    sender = SlowSender(blobs, fail_at=2)
    world = World(blobs=blobs, sender=sender, send_chunks=1)
    body = world.deliver([row(i) for i in range(CHUNK_LINES * 4)])
    with pytest.raises(ConnectionError):
        await world.intake.on_event(body, now=NOW)
    [stored] = [d for d in world.store.items.values() if d.get("kind") == "file"]
    assert stored["status"] == "PROCESSING"
    sender.fail_at = None
    record = await world.intake.on_event(body, now=NOW)
    assert record is not None
    assert (record.status, record.accepted) == ("DONE", CHUNK_LINES * 4)
    # the chunk sent before the failure is sent again with the same id: the broker drops it
    ids = [message.message_id for _, message in world.sender.sent]
    assert len(set(ids)) == 4
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("name", "acts_for", "reason"),
    [
        ("CSTAR.00001.TRNLOG.20261210.101500.001.csv", None, "not encrypted"),
        ("CSTAR.00009.TRNLOG.20261210.101500.001.csv.pgp", None, "ABI 00009"),
        ("CSTAR.00001.TRNLOG.20261310.101500.001.csv.pgp", None, "no real date"),
    ],
)
async def test_a_file_the_sender_may_not_send_is_refused_whole(
    name: str, acts_for: dict[str, list[str]] | None, reason: str
) -> None:
    world = World(acts_for)
    body = world.deliver([row(1)], name=name)
    record = await world.intake.on_event(body, now=NOW)
    assert record is not None
    assert record.status == "REFUSED"
    assert reason in (record.reason or "")
    assert world.sender.sent == []
    assert reason in world.report(name)[0][2]


async def test_what_is_no_acquirers_file_is_left_alone() -> None:
    world = World()
    report = world.deliver(["x"], name=NAME + ".report.csv")
    other = world.deliver([row(1)], container="payouts")
    unknown = world.deliver([row(1)], container="rtd-nobody")
    assert await world.intake.on_event(report, now=NOW) is None
    assert await world.intake.on_event(other, now=NOW) is None
    refused = await world.intake.on_event(unknown, now=NOW)
    assert refused is not None
    assert refused.status == "REFUSED"
    with pytest.raises(PermanentError):
        await world.intake.on_event(b'{"not": "an event"}', now=NOW)


async def test_a_file_that_does_not_decrypt_is_recorded_failed() -> None:
    class Refusing:
        async def decrypt(self, chunks: Any) -> Any:
            raise PermanentError("the file does not decrypt: no secret key")
            yield b""

    world = World(decryptor=Refusing())
    record = await world.intake.on_event(world.deliver([row(1)]), now=NOW)
    assert record is not None
    assert (record.status, record.accepted) == ("FAILED", 0)
    assert "does not decrypt" in world.report()[0][2]


async def test_duplicates_are_checked_against_a_bounded_window_of_latest_lines() -> None:
    world = World(window=3)
    lines = [row(1), row(2), row(1), row(3), row(4), row(5), row(1)]
    record = await world.intake.on_event(world.deliver(lines), now=NOW)
    assert record is not None
    # line 3 repeats line 1 within the window; line 7 is past it: enqueued, and the scorer
    # (which counts each transaction id once) drops it
    assert [(r[0], r[1]) for r in world.report()] == [("3", "DUPLICATE_IN_FILE")]
    assert world.sent_ids() == ["T1", "T2", "T3", "T4", "T5", "T1"]


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=9),
    # few distinct keys, many of one home slot: the table's collisions and removals
    keys=st.lists(
        st.one_of(st.integers(min_value=0, max_value=40), st.integers(0, 7).map(lambda n: n << 40)),
        max_size=300,
    ),
)
def test_the_duplicate_window_answers_as_the_set_of_the_latest_keys(
    size: int, keys: list[int]
) -> None:
    window = _Recent(size)
    latest: list[int] = []
    for key in keys:
        fresh = (key or 1) not in latest
        assert window.add(key) == fresh
        if fresh:
            latest = [*latest, key or 1][-size:]
