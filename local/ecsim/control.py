"""Synchronous helpers for the EC simulator's control API (``url`` is ``EcSim.control_url``,
``http://127.0.0.1:PORT/control``).

::

    control.set_behaviour(ec.control_url, state="down")      # connections refused
    control.set_behaviour(ec.control_url, state="up", not_active_fraction=0.5)
    control.put_notices(ec.control_url, [Notice(...)])
    assert control.receipts(ec.control_url)["deliveries"] == {"r-1": 1}
    control.reset(ec.control_url)

From async code, run them in a thread (``await asyncio.to_thread(control.reset, url)``): each is
one short local call.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from local.ecsim.models import Notice


class ControlError(RuntimeError):
    """The control API refused a call (its status and ``error`` text)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _call(method: str, url: str, body: Any = None, *, timeout: float = 10.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            text = error.read().decode(errors="replace")
        try:
            detail = str(json.loads(text)["error"])
        except (ValueError, KeyError, TypeError):
            detail = text
        raise ControlError(error.code, detail) from None


def status(url: str) -> dict[str, Any]:
    """Behaviour, whether it listens, counters (calls, answers per outcome, held calls)."""
    result: dict[str, Any] = _call("GET", url)
    return result


def set_behaviour(
    url: str,
    *,
    state: str | None = None,
    delay_ms: int | None = None,
    timeout_fraction: float | None = None,
    not_active_fraction: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Change what is given (``state`` ``"up"`` or ``"down"``); answers the new status."""
    body = {
        "state": state,
        "delayMs": delay_ms,
        "timeoutFraction": timeout_fraction,
        "notActiveFraction": not_active_fraction,
        "seed": seed,
    }
    result: dict[str, Any] = _call(
        "PUT", f"{url}/behaviour", {k: v for k, v in body.items() if v is not None}
    )
    return result


def put_notices(url: str, notices: Iterable[Notice | Mapping[str, Any]]) -> dict[str, Any]:
    """Add or replace notices (a replaced one is unpaid again, with no live token)."""
    body = [n.to_json() if isinstance(n, Notice) else dict(n) for n in notices]
    result: dict[str, Any] = _call("PUT", f"{url}/notices", body)
    return result


def notice(url: str, pa_fiscal_code: str, notice_number: str) -> dict[str, Any] | None:
    """A notice with ``paid``, ``paidBy`` and ``liveToken``; None when it is unknown."""
    try:
        result: dict[str, Any] = _call("GET", f"{url}/notices/{pa_fiscal_code}/{notice_number}")
    except ControlError as error:
        if error.status == 404:
            return None
        raise
    return result


def receipts(url: str) -> dict[str, Any]:
    """``{"receipts": [...], "deliveries": {receiptId: n}, "total": n}``: every receipt as
    first received, and how many times each was delivered (duplicates included)."""
    result: dict[str, Any] = _call("GET", f"{url}/receipts")
    return result


def reset(url: str, *, notices: bool = False) -> dict[str, Any]:
    """Up, no faults, zero counters, no receipts; ``notices`` also restores the notices it
    started with."""
    result: dict[str, Any] = _call("POST", f"{url}/reset", {"notices": notices})
    return result
