"""The bank-check service: does this IBAN belong to this citizen? (HTTP, one shared session.)

``POST {base}/checks`` ``{"iban", "fiscalCode", "ownerName"}`` answers 200
``{"result": "OK" | "KO" | "UNKNOWN_PSP"}``: the owner matches, does not, or the bank is not
one the service can ask. Anything else is the service being unavailable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Literal, Protocol

import aiohttp

from shared.platform.errors import DependencyError

logger = logging.getLogger(__name__)

CheckResult = Literal["OK", "KO", "UNKNOWN_PSP"]
_RESULTS: frozenset[str] = frozenset({"OK", "KO", "UNKNOWN_PSP"})
_MAX_ANSWER = 16 * 1024


class BankCheck(Protocol):
    async def check(self, *, iban: str, fiscal_code: str, owner_name: str) -> CheckResult:
        """The bank's answer; DependencyError if it cannot be had now."""
        ...


class HttpBankCheck:
    def __init__(
        self, session: Callable[[], aiohttp.ClientSession], *, base_url: str, timeout: float
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def check(self, *, iban: str, fiscal_code: str, owner_name: str) -> CheckResult:
        body = {"iban": iban, "fiscalCode": fiscal_code, "ownerName": owner_name}
        try:
            async with self._session().post(
                f"{self._base}/checks", json=body, timeout=self._timeout
            ) as answer:
                raw = await answer.content.read(_MAX_ANSWER + 1)
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DependencyError("bank-check", f"unreachable ({type(error).__name__})") from error
        if status != 200:
            raise DependencyError(
                "bank-check", f"HTTP {status}", retry_after=5.0 if status in (429, 503) else 60.0
            )
        try:
            result = json.loads(raw)["result"]
        except (ValueError, TypeError, KeyError):
            raise DependencyError("bank-check", "unreadable answer") from None
        if result not in _RESULTS:
            raise DependencyError("bank-check", "unknown result")
        checked: CheckResult = result
        return checked
