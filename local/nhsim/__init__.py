"""Local Notification Hubs: a simulator of the REST subset the app uses (see ``server.py``).

``start_nhsim(hubs)`` runs it as a child process on a free port of 127.0.0.1; point a hub's
connection at it with :func:`connection_string`::

    simulator = start_nhsim({"hub-a": {DEV_KEY_NAME: DEV_KEY}})
    env["PUSH_HUB_1_CONNECTION"] = connection_string(simulator.port)

Tests that share an event loop with it use :class:`~local.nhsim.server.Simulator` directly.
``make run`` starts it (``local/platform.py``); with Core Tools (``func start``), run
``python -m local.nhsim --settings local.settings.json`` beside it.
The helpers below call its control API (``/_sim/...``) from synchronous code.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.nhsim.server import FAULT_KINDS, Faults, Simulator
from local.process import Child

__all__ = [
    "DEV_KEY",
    "DEV_KEY_NAME",
    "FAULT_KINDS",
    "Faults",
    "Simulator",
    "connection_string",
    "installation",
    "reset",
    "sends",
    "set_faults",
    "simulate_hubs",
    "start_nhsim",
    "stats",
]

#: The simulator's dev key (a deliberately fake, well-known value: local only).
DEV_KEY_NAME = "DefaultFullSharedAccessSignature"
DEV_KEY = "dev-notification-hubs-key-not-a-secret"


def connection_string(
    port: int, *, key_name: str = DEV_KEY_NAME, key: str = DEV_KEY, host: str = "127.0.0.1"
) -> str:
    """A Notification Hubs connection string for a simulator listening on ``port``."""
    return f"Endpoint=http://{host}:{port}/;SharedAccessKeyName={key_name};SharedAccessKey={key}"


def start_nhsim(
    hubs: Mapping[str, Mapping[str, str]],
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    clock_file: Path | None = None,
    faults: Faults | None = None,
    ready_timeout: float = 30.0,
) -> Child:
    """Start the simulator with ``hubs`` (name -> {key name: key}); ``.port`` is its port."""
    argv = [sys.executable, "-m", "local.nhsim", "--host", host, "--port", str(port)]
    if clock_file is not None:
        argv += ["--clock-file", str(clock_file)]
    if faults is not None:
        argv += ["--faults", json.dumps(faults.to_json())]
    env = {
        "NHSIM_HUBS": json.dumps({name: dict(keys) for name, keys in hubs.items()}),
        "PYTHONUNBUFFERED": "1",
    }
    return Child("nhsim", argv, env=env, ready_timeout=ready_timeout)


def _call(port: int, path: str, body: Any = None, *, host: str = "127.0.0.1") -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{host}:{port}/_sim/{path}",
        data=data,
        method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def stats(port: int, **kwargs: Any) -> dict[str, Any]:
    """The counters (see the server's docstring)."""
    result: dict[str, Any] = _call(port, "stats", **kwargs)
    return result


def reset(port: int, *, state: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Zero the counters; with ``state``, also forget installations and sends."""
    result: dict[str, Any] = _call(port, "reset", {"state": state}, **kwargs)
    return result


def set_faults(port: int, faults: Faults, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = _call(port, "faults", faults.to_json(), **kwargs)
    return result


def installation(port: int, hub: str, installation_id: str, **kwargs: Any) -> Any:
    """The installation as the simulator keeps it, or None."""
    return _call(port, f"hubs/{hub}/installations/{installation_id}", **kwargs)


def sends(port: int, hub: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every send recorded on ``hub``, oldest first."""
    result: list[dict[str, Any]] = _call(port, f"hubs/{hub}/sends", **kwargs)
    return result


def simulate_hubs(
    env: Mapping[str, str], *, clock_file: Path | None = None
) -> tuple[Child, dict[str, str]]:
    """Start one simulator serving every hub that ``env``'s ``PUSH_HUB_<n>_*`` name, with the
    keys their connections carry; return it and the connections rewritten to point at it."""
    from shared.push.settings import push_hubs

    hubs = push_hubs(env)
    keys: dict[str, dict[str, str]] = {}
    for hub in hubs:
        keys.setdefault(hub.name, {})[hub.connection.key_name] = hub.connection.key
    child = start_nhsim(keys, clock_file=clock_file)
    rewritten = {
        f"PUSH_HUB_{hub.index}_CONNECTION": connection_string(
            child.port, key_name=hub.connection.key_name, key=hub.connection.key
        )
        for hub in hubs
    }
    return child, rewritten
