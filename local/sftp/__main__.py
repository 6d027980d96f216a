"""``python -m local.sftp --port 0 [--clock-file F]``: serve SFTP into Azurite; prints READY."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from local.devclock import DevClock
from local.sftp.server import Delivery, serve


async def run(args: argparse.Namespace) -> None:
    clock = DevClock(Path(args.clock_file) if args.clock_file else None)
    delivery = Delivery(
        storage=os.environ["SFTP_STORAGE_CONNECTION"],
        servicebus=os.environ["SFTP_SERVICEBUS_CONNECTION"],
        queue=os.environ.get("SFTP_EVENTS_QUEUE", "cashback-files"),
        prefix=os.environ.get("SFTP_CONTAINER_PREFIX", "rtd-"),
        now=clock.now,
    )
    users: dict[str, str] = json.loads(os.environ.get("SFTP_USERS", "{}"))
    acceptor = await serve(host=args.host, port=args.port, users=users, delivery=delivery)
    sys.stdout.write(f"READY {acceptor.get_port()}\n")
    sys.stdout.flush()
    try:
        await acceptor.wait_closed()
    finally:
        await delivery.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The local SFTP server (Azurite behind it)")
    parser.add_argument("--port", type=int, default=7093)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--clock-file", default=os.environ.get("LOCAL_CLOCK_FILE"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
