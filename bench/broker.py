"""Benchmark of the local Service Bus broker's settlement path, driven as the dev host drives it.

One aio receiver (peek-lock, prefetch 0) takes messages from a queue and completes each in a
task of its own, up to ``--concurrency`` at once (host.json's ``maxConcurrentCalls``, 16), doing
no other work: the dev host's queue consumer with an empty function. The baseline, in the same
run against the same broker: the same receiver completing one message at a time. Also shown:
the 16 calls at once with their completions taken in turn. Printed for each: messages/s,
``complete_message`` p50/p90/max, and the ratios to one at a time.
Asserts nothing.

Run: ``python -m bench.broker [--messages 400] [--concurrency 16] [--repeat 2]
[--broker PATH]``; ``--broker`` runs another broker.js (an older one, for a before/after:
``git show <commit>:local/servicebus/broker.js > local/servicebus/before.js``: inside the
repository, so that node finds rhea).

Measured on the 2-core box (other suites running, load average 5-8), 400 messages, two runs
each. Before one disposition per settlement (the broker at 9659275): 16 at once 51-53
messages/s, complete p50 202 ms and p90 403 ms (the SDK's 0.2 s socket timeout, once or twice),
against 290-530/s one at a time. After: 16 at once 103-138/s, p50 5-14 ms, p90 still ~210 ms:
the SDK's settling calls each read frames for themselves, and a call whose answer another call
read waits out its timeout. The same 16 calls with their completions taken one at a time
(``settled in turn``, a lock around ``complete_message``) did 183-270/s, 1.3-1.7 times one at a
time: what a dev host that settles in turn would gain (it is not changed here).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver

import local.servicebus
from local.servicebus import connection_string, start_broker


@dataclass
class Run:
    name: str
    messages: int
    seconds: float
    completes: list[float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.completes)
        if len(ordered) == 1:
            return ordered[0]
        return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


async def fill(client: ServiceBusClient, queue: str, count: int) -> None:
    async with client.get_queue_sender(queue) as sender:
        for start in range(0, count, 100):
            batch = [ServiceBusMessage(f"m{i}") for i in range(start, min(count, start + 100))]
            await sender.send_messages(batch)


async def consume(
    receiver: ServiceBusReceiver, count: int, concurrency: int, *, one_settlement: bool = False
) -> list[float]:
    """The dev host's consumer loop, with nothing to do but complete; seconds per complete.
    ``one_settlement``: the calls still run ``concurrency`` at once, but their completions go
    to the receiver one at a time."""
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    completes: list[float] = []
    turn = asyncio.Lock()

    async def settle(message: ServiceBusReceivedMessage) -> None:
        try:
            began = time.perf_counter()
            if one_settlement:
                async with turn:
                    await receiver.complete_message(message)
            else:
                await receiver.complete_message(message)
            completes.append(time.perf_counter() - began)
        finally:
            slots.release()

    handed = 0
    while handed < count:
        await slots.acquire()
        slots.release()
        free = concurrency - len(running)
        for message in await receiver.receive_messages(
            max_message_count=max(1, free), max_wait_time=0.5
        ):
            await slots.acquire()
            task = asyncio.create_task(settle(message))
            running.add(task)
            task.add_done_callback(running.discard)
            handed += 1
    await asyncio.gather(*running)
    return completes


async def one_run(
    port: int, name: str, count: int, concurrency: int, *, one_settlement: bool = False
) -> Run:
    queue = f"bench-settle-{uuid.uuid4().hex[:8]}"
    async with ServiceBusClient.from_connection_string(connection_string(port)) as client:
        await fill(client, queue, count)
        async with client.get_queue_receiver(queue, prefetch_count=0) as receiver:
            began = time.perf_counter()
            completes = await consume(receiver, count, concurrency, one_settlement=one_settlement)
            return Run(name, count, time.perf_counter() - began, completes)


def show(run: Run) -> None:
    print(
        f"{run.name:<30} {run.rate:7.1f} messages/s  complete p50 {1000 * run.quantile(0.5):6.1f}"
        f" ms  p90 {1000 * run.quantile(0.9):6.1f} ms  max {1000 * max(run.completes):6.1f} ms"
    )


async def bench(args: argparse.Namespace) -> None:
    if args.broker:
        local.servicebus.BROKER_JS = args.broker.resolve()
    print(f"broker: {local.servicebus.BROKER_JS}")
    broker = start_broker()
    try:
        for _ in range(args.repeat):
            alone = await one_run(broker.port, "one at a time", args.messages, 1)
            together = await one_run(
                broker.port, f"{args.concurrency} at once", args.messages, args.concurrency
            )
            queued = await one_run(
                broker.port,
                f"{args.concurrency} at once, settled in turn",
                args.messages,
                args.concurrency,
                one_settlement=True,
            )
            for run in (alone, together, queued):
                show(run)
            print(
                f"ratio {args.concurrency} at once / one at a time: "
                f"{together.rate / alone.rate:.2f}; settled in turn: {queued.rate / alone.rate:.2f}"
            )
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broker")
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--broker", type=Path, help="another broker.js to run")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
