"""``python -m local.banksim --port 0``: serve the bank-check simulator; prints READY."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from local.banksim.simulator import BankSimulator
from local.process import serve_app


async def serve(args: argparse.Namespace) -> None:
    await serve_app(BankSimulator().app(), args.host, args.port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The local bank-check simulator")
    parser.add_argument("--port", type=int, default=7092)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
