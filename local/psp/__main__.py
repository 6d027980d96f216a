"""``python -m local.psp --port 0 [--clock-file F]``: serve the PSP simulator; prints READY."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from local.devclock import DevClock
from local.process import serve_app
from local.psp.simulator import Simulator


async def serve(args: argparse.Namespace) -> None:
    secret, salt = os.environ.get("PSP_SIGNING_SECRET"), os.environ.get("PSP_HPAN_SALT")
    if not secret or not salt:
        raise SystemExit("PSP_SIGNING_SECRET and PSP_HPAN_SALT must be set")
    simulator = Simulator(
        clock=DevClock(Path(args.clock_file) if args.clock_file else None),
        secret=secret,
        salt=salt,
    )
    await serve_app(simulator.app(), args.host, args.port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The local PSP simulator")
    parser.add_argument("--port", type=int, default=7090)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--clock-file", default=os.environ.get("LOCAL_CLOCK_FILE"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
