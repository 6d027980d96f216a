"""Local Cosmos DB emulator: @vercel/cosmosdb-server wrapped by ``launcher.js``, in memory.

``start_cosmos()`` runs it on a free port of 127.0.0.1 over plain HTTP::

    emulator = start_cosmos()
    client = CosmosClient(endpoint(emulator.port), credential=EMULATOR_KEY, **client_kwargs())

The launcher also serves ``GET /_emulator/stats`` (``stats(port)`` here): counters of the TCP
connections and HTTP requests the Cosmos API got, for tests and benchmarks that count round trips.

Known gaps of the emulator: no GROUP BY, DISTINCT, OFFSET/LIMIT, change feed, TTL, stored
procedures or triggers; one physical partition; no authentication (any key is accepted).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from local.process import ROOT, Child

EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
"""The well-known public master key of the Cosmos DB emulator (this emulator ignores keys)."""

LAUNCHER = Path(__file__).resolve().parent / "launcher.js"


def start_cosmos(port: int = 0, *, ready_timeout: float = 30.0) -> Child:
    """Start the emulator on 127.0.0.1 (``port`` 0: any free port); ``.port`` is the real one."""
    return Child(
        "cosmos",
        ["node", str(LAUNCHER), "--port", str(port)],
        ready_timeout=ready_timeout,
        cwd=ROOT,
    )


def endpoint(port: int) -> str:
    """The account endpoint to give ``CosmosClient``."""
    return f"http://127.0.0.1:{port}/"


def client_kwargs() -> dict[str, Any]:
    """Extra ``CosmosClient`` keyword arguments this emulator needs: none.

    The emulator speaks plain HTTP and advertises ``http://<the Host the client used>/`` as its
    readable and writable locations, so endpoint discovery (on by default) keeps every request on
    the emulator; ``enable_endpoint_discovery=False`` is not needed (it would also work).
    """
    return {}


def connection_string(port: int) -> str:
    """A Cosmos connection string for the emulator (for settings that take one)."""
    return f"AccountEndpoint={endpoint(port)};AccountKey={EMULATOR_KEY};"


def stats(port: int, *, reset: bool = False) -> dict[str, int]:
    """The emulator's counters (``GET /_emulator/stats``); ``reset`` zeroes them after reading.

    ``connections``: TCP connections that carried at least one Cosmos API request;
    ``requests``: Cosmos API requests; ``accepted``: every TCP connection accepted;
    ``open``: TCP connections open now. Calls to ``/_emulator/*`` are not counted.
    """
    url = f"http://127.0.0.1:{port}/_emulator/stats"
    with urllib.request.urlopen(url, timeout=10) as response:
        result: dict[str, int] = json.load(response)
    if reset:
        request = urllib.request.Request(f"{url}/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    return result


def kinds(port: int) -> dict[str, int]:
    """The emulator's requests since its counters were last reset, by what they did:
    ``"<operation> <collection>[ <error status>]"`` (``read notices``, ``replace standin 412``)."""
    url = f"http://127.0.0.1:{port}/_emulator/kinds"
    with urllib.request.urlopen(url, timeout=10) as response:
        result: dict[str, int] = json.load(response)
    return result
