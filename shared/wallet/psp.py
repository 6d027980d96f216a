"""The PSP as the wallet sees it: a port to open onboarding sessions, and the PSPs' secrets.

:class:`HttpPspGateway` talks to a PSP's session API over the process's one shared aiohttp
session for PSPs (``clients.session("psp")``). Requests are signed like the PSP's own
notifications (``x-signature``, HMAC-SHA256 with the PSP's secret). The PAN never passes here:
the citizen types it on the PSP's hosted page.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from shared.auth.secrets import SecretProvider
from shared.auth.signature import HEADER, sign
from shared.parties.models import Party
from shared.platform.clock import Clock
from shared.platform.errors import ConfigurationError, DependencyError
from shared.platform.pan import contains_pan
from shared.wallet.models import InstrumentType

logger = logging.getLogger(__name__)

_MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class PspSession:
    session_id: str
    redirect_url: str


class PspGateway(Protocol):
    async def open_session(
        self,
        *,
        psp_id: str,
        wallet_id: str,
        type_: InstrumentType,
        return_url: str,
        notification_url: str,
    ) -> PspSession:
        """Open an onboarding session; DependencyError if the PSP cannot be reached."""
        ...


class PspSecrets(Protocol):
    async def secret_of(self, psp_id: str) -> str:
        """The signing secret shared with ``psp_id``; ConfigurationError if it has none."""
        ...


class PartyLookup(Protocol):
    async def get(self, party_id: str) -> Party: ...


class RegistryPspSecrets:
    """A PSP's secret: its ``secretName`` in the party registry, its value from the secret
    provider. The name is cached for ``ttl_seconds`` (it changes only when operators rotate)."""

    def __init__(
        self,
        parties: PartyLookup,
        secrets: SecretProvider,
        *,
        ttl_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._parties = parties
        self._secrets = secrets
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._names: dict[str, tuple[float, str]] = {}

    async def secret_of(self, psp_id: str) -> str:
        cached = self._names.get(psp_id)
        if cached is not None and cached[0] > self._monotonic():
            name = cached[1]
        else:
            party = await self._parties.get(psp_id)
            if party.role != "psp" or not party.secret_name:
                raise ConfigurationError(f"party {psp_id} is not a PSP with a signing secret")
            name = party.secret_name
            self._names[psp_id] = (self._monotonic() + self._ttl, name)
        return await self._secrets.get(name)


class HttpPspGateway:
    """:class:`PspGateway` over HTTP: ``POST <base>/sessions``."""

    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        *,
        base_url: str,
        secrets: PspSecrets,
        clock: Clock,
        timeout: float,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._secrets = secrets
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def open_session(
        self,
        *,
        psp_id: str,
        wallet_id: str,
        type_: InstrumentType,
        return_url: str,
        notification_url: str,
    ) -> PspSession:
        body = json.dumps(
            {
                "walletId": wallet_id,
                "type": type_,
                "returnUrl": return_url,
                "notificationUrl": notification_url,
            }
        ).encode()
        secret = await self._secrets.secret_of(psp_id)
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(secret, body, int(self._clock.now().timestamp())),
        }
        try:
            async with self._session().post(
                f"{self._base}/sessions", data=body, headers=headers, timeout=self._timeout
            ) as answer:
                raw = await answer.content.read(_MAX_ANSWER + 1)
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("PSP %s unreachable opening a session: %s", psp_id, type(error).__name__)
            raise DependencyError("psp", f"unreachable ({type(error).__name__})") from error
        if status != 201 and status != 200:
            logger.warning("PSP %s refused a session: HTTP %s", psp_id, status)
            retry = 5.0 if status in (429, 503) else 30.0
            raise DependencyError("psp", f"session refused (HTTP {status})", retry_after=retry)
        return _parse_session(raw)


def _parse_session(raw: bytes) -> PspSession:
    if len(raw) > _MAX_ANSWER:
        raise DependencyError("psp", "session answer too large")
    try:
        answer = json.loads(raw)
        session_id, redirect_url = answer["sessionId"], answer["redirectUrl"]
    except (ValueError, TypeError, KeyError):
        raise DependencyError("psp", "unreadable session answer") from None
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 128:
        raise DependencyError("psp", "unusable session id")
    if contains_pan(session_id):  # stored with the instrument: nothing card-like is kept
        raise DependencyError("psp", "unusable session id")
    if not isinstance(redirect_url, str) or urlsplit(redirect_url).scheme not in ("http", "https"):
        raise DependencyError("psp", "unusable redirect URL")
    return PspSession(session_id, redirect_url)
