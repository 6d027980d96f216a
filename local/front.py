"""One address and port in front of the Service Bus broker and the Notification Hubs simulator,
as Azure's ``*.servicebus.windows.net`` front ends serve both services.

Why it exists: Azure's outbound (SNAT) ports are budgeted per destination address and port, and
a Notification Hubs namespace lives behind the same front ends as Service Bus, so a push client
that burns ports also starves the app's Service Bus connections. Locally the two services
listen on two ports; behind this front they share one destination, and so one budget
(``tests/netns/test_app_outage.py`` reproduces the December 2020 outage through it).

Each accepted TCP connection is routed by its first bytes: the AMQP protocol header (``AMQP``
then the protocol id and version, which the Service Bus SDK sends first, SASL or plain) goes to
the broker; anything else (HTTP) goes to the simulator. Then bytes are piped both ways
unchanged, a half-close is passed on, and both sides are closed once both directions ended.

``source``: the address the front's own connections to the services leave from. The front
stands for the far side of Azure's SNAT, so its hop to the services must not spend the client's
ports: give it another loopback address (``127.0.0.2``) and it draws on a budget of its own.

Run: ``python -m local.front --port P --amqp 127.0.0.1:B --http 127.0.0.1:N
[--source 127.0.0.2]``; it prints ``READY <port>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from dataclasses import dataclass, field

from local.process import Child

logger = logging.getLogger("front")

#: What an AMQP 1.0 client sends before anything else (then protocol id, major, minor, revision).
AMQP_HEADER = b"AMQP"
#: How long a new connection may take to send its first bytes.
FIRST_BYTES_SECONDS = 10.0
#: ``IP_BIND_ADDRESS_NO_PORT`` (linux/in.h): bind the source address now, pick the port at
#: connect time, so source ports stay shared per destination as connect() alone would leave them.
_IP_BIND_ADDRESS_NO_PORT = 24
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Upstream:
        host, _, port = text.rpartition(":")
        return cls(host or "127.0.0.1", int(port))


@dataclass
class Counters:
    """Connections routed to each side, and those that ended before they were routed."""

    amqp: int = 0
    http: int = 0
    unrouted: int = 0
    upstream_failures: dict[str, int] = field(default_factory=dict)


class Front:
    """The front: ``amqp`` and ``http`` are where each protocol's connections go."""

    def __init__(self, amqp: Upstream, http: Upstream, *, source: str | None = None) -> None:
        self.amqp = amqp
        self.http = http
        self.source = source
        self.counters = Counters()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(
            self._accepted, host, port, backlog=1024, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await self._route(reader, writer)
        finally:
            self._pipes.discard(task)

    async def _route(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readexactly(len(AMQP_HEADER)), FIRST_BYTES_SECONDS)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            self.counters.unrouted += 1
            await _close(writer)
            return
        kind = "amqp" if head == AMQP_HEADER else "http"
        target = self.amqp if kind == "amqp" else self.http
        try:
            up_reader, up_writer = await self._connect(target)
        except OSError as error:
            failures = self.counters.upstream_failures
            failures[kind] = failures.get(kind, 0) + 1
            logger.warning("front: cannot reach the %s side (%s)", kind, error)
            await _close(writer)
            return
        if kind == "amqp":
            self.counters.amqp += 1
        else:
            self.counters.http += 1
        up_writer.write(head)
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )
        await asyncio.gather(_close(up_writer), _close(writer))

    async def _connect(self, target: Upstream) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.source is None:
            return await asyncio.open_connection(target.host, target.port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self.source, 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (target.host, target.port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until ``source`` ends, then pass the half-close on (or close if that fails)."""
    try:
        while chunk := await source.read(_CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof() and not sink.is_closing():
            sink.write_eof()
    except (ConnectionError, OSError):
        # One side reset: the other cannot be finished cleanly either.
        sink.transport.abort()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


def start_front(
    amqp_port: int,
    http_port: int,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    source: str | None = None,
    ready_timeout: float = 30.0,
) -> Child:
    """Start the front as a child process in front of a broker and a simulator on ``host``;
    ``.port`` is where it listens."""
    argv = [
        sys.executable,
        "-m",
        "local.front",
        "--host",
        host,
        "--port",
        str(port),
        "--amqp",
        f"{host}:{amqp_port}",
        "--http",
        f"{host}:{http_port}",
    ]
    if source is not None:
        argv += ["--source", source]
    return Child("front", argv, env={"PYTHONUNBUFFERED": "1"}, ready_timeout=ready_timeout)


async def serve(front: Front, host: str, port: int) -> None:
    bound = await front.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {bound}", flush=True)
    await stop.wait()
    await front.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.front", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--amqp", required=True, help="host:port of the Service Bus broker")
    parser.add_argument("--http", required=True, help="host:port of the Notification Hubs side")
    parser.add_argument("--source", help="the address the front's own connections leave from")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    front = Front(Upstream.parse(args.amqp), Upstream.parse(args.http), source=args.source)
    asyncio.run(serve(front, args.host, args.port))


if __name__ == "__main__":
    main()
