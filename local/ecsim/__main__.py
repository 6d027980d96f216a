"""``python -m local.ecsim --port 0 --control-port 0 --credential X [--demo] [--seed N]
[--clock-file F]``: serve the EC simulator until SIGTERM.

It prints ``CONTROL <port>`` and then ``READY <port>`` (the station's port) once both listen.
The credential can come from ``ECSIM_CREDENTIAL`` instead (the launcher's way: a process
listing shows command lines); the dev clock file from ``LOCAL_CLOCK_FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from local.devclock import DevClock
from local.ecsim.simulator import DEMO_NOTICES, EcSimulator


async def serve(args: argparse.Namespace) -> None:
    simulator = EcSimulator(
        credential=args.credential,
        clock=DevClock(Path(args.clock_file) if args.clock_file else None),
        seed=args.seed,
        notices=DEMO_NOTICES if args.demo else (),
    )
    await simulator.start(args.host, args.port, args.control_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"CONTROL {simulator.control_port}", flush=True)
    print(f"READY {simulator.port}", flush=True)
    await stop.wait()
    await simulator.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.ecsim", description="The local EC (station) simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7096, help="the station's port")
    parser.add_argument("--control-port", type=int, default=7097)
    parser.add_argument(
        "--credential",
        default=os.environ.get("ECSIM_CREDENTIAL"),
        help="the Ocp-Apim-Subscription-Key it expects",
    )
    parser.add_argument("--clock-file", default=os.environ.get("LOCAL_CLOCK_FILE"))
    parser.add_argument("--seed", type=int, help="seed of the fault draws (repeatable runs)")
    parser.add_argument(
        "--demo", action="store_true", help="start with the demo notices (DEMO_NOTICES)"
    )
    args = parser.parse_args(argv)
    if not args.credential:
        parser.error("give --credential or set ECSIM_CREDENTIAL")
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
