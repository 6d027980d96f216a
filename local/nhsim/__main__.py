"""``python -m local.nhsim [--port 0] [--clock-file F] [--settings local.settings.json]``: run
the simulator until SIGTERM; it prints ``READY <port>`` once it listens.

Hubs come from ``NHSIM_HUBS`` (JSON ``{"hub": {"rule name": "key"}}``, or ``{"rule name":
{"key": "...", "rights": ["Send"]}}`` for a rule with only some rights; keys never show in a
process listing; ``{}`` serves no hub, only the control API) or, with ``--settings``, from
the ``PUSH_HUB_<n>_*`` values of a local.settings.json, served on the port their connections
name (for ``func start`` users).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

from local.devclock import DevClock
from local.nhsim.server import Faults, HubRules, Simulator
from shared.push.settings import push_hubs


def hubs_from_settings(path: Path) -> tuple[dict[str, dict[str, str]], int]:
    """The hubs a local.settings.json names, and the port of their (first) endpoint."""
    hubs = push_hubs(json.loads(path.read_text())["Values"])
    keys: dict[str, dict[str, str]] = {}
    for hub in hubs:
        keys.setdefault(hub.name, {})[hub.connection.key_name] = hub.connection.key
    return keys, urlsplit(hubs[0].connection.endpoint).port or 0


async def serve(
    hubs: HubRules, host: str, port: int, clock_file: Path | None, faults: Faults
) -> None:
    simulator = Simulator(hubs, clock=DevClock(clock_file), faults=faults)
    bound = await simulator.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {bound}", flush=True)
    await stop.wait()
    await simulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.nhsim")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--clock-file", type=Path)
    parser.add_argument("--settings", type=Path, help="serve the hubs of this settings file")
    parser.add_argument("--faults", default="{}", help="JSON, as POST /_sim/faults takes")
    args = parser.parse_args()
    hubs: HubRules
    if args.settings:
        hubs, port = hubs_from_settings(args.settings)
    elif "NHSIM_HUBS" in os.environ:
        hubs, port = json.loads(os.environ["NHSIM_HUBS"] or "{}"), 0
    else:
        raise SystemExit("no hub to serve: set NHSIM_HUBS or give --settings")
    faults = Faults.from_json(json.loads(args.faults))
    asyncio.run(
        serve(hubs, args.host, port if args.port is None else args.port, args.clock_file, faults)
    )


if __name__ == "__main__":
    main()
