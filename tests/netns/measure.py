"""What the outage stage measures (``tests/netns/app_outage.py``): the clients' calls, the
sockets that hold one of the namespace's 128 ports, and the CPU each process of the stage used.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import statistics
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PORTS = (40000, 40127)  # 128 outbound ports
SLOW_SECONDS = 5.0  # a non-push call this slow counts as delayed (a new Service Bus
# connection takes about 1 s here, a wallet request a few ms)
_TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "06": "TIME_WAIT", "0A": "LISTEN"}
_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- what the clients record
@dataclass
class Call:
    phase: str
    kind: str
    ok: bool
    seconds: float
    errno: int | None = None
    error: str | None = None


def errno_of(error: BaseException | None) -> int | None:
    """The errno of the first OSError in an exception's chain (SDKs wrap the socket's)."""
    seen = 0
    while error is not None and seen < 12:
        number = getattr(error, "errno", None)
        if isinstance(error, OSError) and isinstance(number, int):
            return number
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def summary(calls: list[Call]) -> dict[str, Any]:
    times = sorted(c.seconds for c in calls)
    failures = [c for c in calls if not c.ok]
    return {
        "calls": len(calls),
        "failures": len(failures),
        "eaddrnotavail": sum(1 for c in calls if c.errno == errno.EADDRNOTAVAIL),
        "slow": sum(1 for c in calls if c.seconds >= SLOW_SECONDS),
        "p50Ms": round(1000 * _quantile(times, 0.5), 2) if times else None,
        "p99Ms": round(1000 * _quantile(times, 0.99), 2) if times else None,
        "maxMs": round(1000 * times[-1], 2) if times else None,
        "errors": dict(Counter((c.error or "?")[:160] for c in failures).most_common(3)),
    }


def _quantile(ordered: list[float], q: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=1000, method="inclusive")[round(q * 1000) - 1]


# ---------------------------------------------------------------- the namespace's sockets
def _endpoint(hex_address: str) -> tuple[str, int]:
    address, port = hex_address.split(":")
    return socket.inet_ntoa(struct.pack("<I", int(address, 16))), int(port, 16)


def sockets_by_destination(names: dict[int, str]) -> dict[str, dict[str, int]]:
    """Sockets holding one of the 128 ports, per destination (named by port) and state."""
    found: dict[str, dict[str, int]] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        _, local_port = _endpoint(fields[1])
        if not PORTS[0] <= local_port <= PORTS[1]:
            continue
        _, remote_port = _endpoint(fields[2])
        state = _TCP_STATES.get(fields[3], "OTHER")
        destination = names.get(remote_port, f"port {remote_port}")
        per_state = found.setdefault(destination, {})
        per_state[state] = per_state.get(state, 0) + 1
    return found


async def can_connect(port: int) -> tuple[bool, int | None]:
    """Could a new connection to 127.0.0.1:port be opened now? Reset at once (no TIME_WAIT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 2
        )
    except OSError as error:
        return False, error.errno
    except TimeoutError:
        return False, None
    finally:
        sock.close()
    return True, None


# ---------------------------------------------------------------- CPU
def _processes() -> dict[int, tuple[int, float]]:
    """Every process: its parent and the CPU seconds it has used (user + system)."""
    found: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far per named process, each with its descendants that are not
    named themselves, and ``machine``: busy seconds of the whole machine (``/proc/stat`` is
    not namespaced: other work on the box counts there, not in the named processes)."""
    processes = _processes()
    owner = {pid: name for name, pid in roots.items()}
    used = dict.fromkeys(roots, 0.0)
    for pid, (_, seconds) in processes.items():
        current, hops = pid, 0
        while current not in owner and current in processes and hops < 64:
            current, hops = processes[current][0], hops + 1
        if current in owner:
            used[owner[current]] += seconds
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in first]
    idle = ticks[3] + ticks[4]  # idle, iowait
    used["machine"] = (sum(ticks[:8]) - idle) / _TICKS
    return used


def cores_used(
    before: tuple[float, dict[str, float]], after: tuple[float, dict[str, float]]
) -> dict[str, float]:
    """Cores used on average between two (monotonic time, :func:`cpu_seconds`) readings."""
    wall = after[0] - before[0]
    if wall <= 0:
        return {}
    return {name: round((after[1][name] - before[1].get(name, 0.0)) / wall, 3) for name in after[1]}


def machine_cores() -> int:
    return os.cpu_count() or 1
