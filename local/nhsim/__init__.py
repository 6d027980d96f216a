"""Local Notification Hubs: a simulator of the REST subset the app uses (see ``server.py``),
checked by Microsoft's SDK (tests/contract; facts and sources in docs/notification-hubs.md).

``start_nhsim(hubs)`` runs it as a child process on a free port of 127.0.0.1; point a hub's
connection at it with :func:`connection_string`::

    simulator = start_nhsim({"hub-a": {DEV_KEY_NAME: DEV_KEY, "SendOnly": {"key": "k",
                                                                           "rights": ["Send"]}}})
    env["PUSH_HUB_1_CONNECTION"] = connection_string(simulator.port)

A rule given as a bare key has every right (Listen, Send, Manage), as the hub's
``DefaultFullSharedAccessSignature`` does. Tests that share an event loop with it use
:class:`~local.nhsim.server.Simulator` directly. ``make run`` starts it
(``local/platform.py``) for the hubs whose connection the environment does not already set
(:func:`simulate_hubs`); with Core Tools (``func start``), run
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

from local.nhsim.server import FAULT_KINDS, Faults, HubRules, Rule, Simulator
from local.process import Child

__all__ = [
    "DEV_KEY",
    "DEV_KEY_NAME",
    "FAULT_KINDS",
    "Faults",
    "HubRules",
    "Rule",
    "Simulator",
    "connection_string",
    "delivered",
    "installation",
    "requests",
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
    hubs: HubRules,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    clock_file: Path | None = None,
    faults: Faults | None = None,
    ready_timeout: float = 30.0,
) -> Child:
    """Start the simulator with ``hubs`` (name -> {rule name: key, or {"key", "rights"}});
    ``.port`` is its port."""
    argv = [sys.executable, "-m", "local.nhsim", "--host", host, "--port", str(port)]
    if clock_file is not None:
        argv += ["--clock-file", str(clock_file)]
    if faults is not None:
        argv += ["--faults", json.dumps(faults.to_json())]
    env = {
        "NHSIM_HUBS": json.dumps(
            {
                name: {
                    rule: value.to_json() if isinstance(value, Rule) else value
                    for rule, value in rules.items()
                }
                for name, rules in hubs.items()
            }
        ),
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
    """Every send accepted on ``hub``, oldest first, each with what it was delivered to."""
    result: list[dict[str, Any]] = _call(port, f"hubs/{hub}/sends", **kwargs)
    return result


def delivered(port: int, hub: str, **kwargs: Any) -> dict[str, int]:
    """Notifications delivered on ``hub``, per installation id."""
    result: dict[str, dict[str, int]] = _call(port, f"hubs/{hub}/delivered", **kwargs)
    return result["installations"]


def requests(port: int, hub: str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """The REST requests received (on ``hub``), oldest first: method, path, query, header
    names, protocol header values, body shape and the status answered."""
    query = "" if hub is None else f"?hub={hub}"
    result: list[dict[str, Any]] = _call(port, f"requests{query}", **kwargs)
    return result


def simulate_hubs(
    env: Mapping[str, str],
    *,
    clock_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Child, dict[str, str]]:
    """Start one simulator serving the hubs that ``env``'s ``PUSH_HUB_<n>_*`` name, with the
    keys their connections carry, and return it with the settings to apply over ``env``.

    A hub whose ``PUSH_HUB_<n>_CONNECTION`` is set in ``environ`` (the environment a developer
    exported before the settings file was read) is not simulated: that hub's settings from
    ``environ`` are returned as they are, so it stays real. Every other hub's connection is
    rewritten to point at the simulator. The simulator starts even when no hub is left to it,
    so its control API is always there.

    Raises:
        ConfigurationError: the settings, ``environ``'s over ``env``'s, are not a valid layout.
    """
    from shared.push.settings import push_hubs

    exported = {k: v for k, v in (environ or {}).items() if k.startswith("PUSH_HUB_")}
    hubs = push_hubs({**env, **exported})
    simulated = [hub for hub in hubs if f"PUSH_HUB_{hub.index}_CONNECTION" not in exported]
    keys: dict[str, dict[str, str]] = {}
    for hub in simulated:
        keys.setdefault(hub.name, {})[hub.connection.key_name] = hub.connection.key
    child = start_nhsim(keys, clock_file=clock_file)
    rewritten = dict(exported)
    for hub in simulated:
        rewritten[f"PUSH_HUB_{hub.index}_CONNECTION"] = connection_string(
            child.port, key_name=hub.connection.key_name, key=hub.connection.key
        )
    return child, rewritten
