"""The payment gateway as the wallet sees it: a port for onboarding orders, and PSPs' secrets.

The steps are those of pagoPA's wallet with Nexi's gateway (docs/wallet.md): the wallet builds
an order (the gateway's hosted page, and where and with which bearer token the gateway notifies
the outcome), then confirms the card typed there (its bin, last four digits, expiry and brand,
and the 3-D Secure page). :class:`HttpPspGateway` talks to it over the process's one shared
aiohttp session for PSPs (``clients.session("psp")``); requests are signed with the PSP's
secret (``x-signature``). The PAN never passes here: the citizen types it on the gateway's page.
"""

from __future__ import annotations

import json
import logging
import re
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
from shared.platform.errors import ConfigurationError, Conflict, DependencyError
from shared.platform.pan import contains_pan, identifier_contains_pan

logger = logging.getLogger(__name__)

_MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class GatewaySession:
    session_id: str
    redirect_url: str


@dataclass(frozen=True)
class CardData:
    """What the gateway read of the card typed on its page (never the number)."""

    bin: str
    last_four_digits: str
    expiry_date: str
    """YYYYMM (the gateway says MM/YY)."""
    brand: str
    iframe_url: str
    """The gateway's 3-D Secure page for the citizen."""


class PspGateway(Protocol):
    async def build_order(
        self,
        *,
        psp_id: str,
        wallet_id: str,
        order_id: str,
        contract_id: str,
        return_url: str,
        notification_url: str,
        notification_token: str,
    ) -> GatewaySession:
        """Open the gateway's session for one order (its hosted page); DependencyError if
        the gateway cannot be reached. ``notification_token`` is the bearer token the gateway
        presents when it notifies the outcome."""
        ...

    async def confirm_card(self, *, psp_id: str, order_id: str, session_id: str) -> CardData:
        """Read the card typed on the page and start its 3-D Secure check (a zero-amount
        verification). Conflict if the citizen has not typed it yet."""
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
    """:class:`PspGateway` over HTTP: ``POST <base>/orders/build`` and
    ``POST <base>/orders/{orderId}/confirm``, each signed with the PSP's secret."""

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

    async def _post(self, psp_id: str, path: str, payload: dict[str, str]) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        secret = await self._secrets.secret_of(psp_id)
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(secret, body, int(self._clock.now().timestamp())),
        }
        try:
            async with self._session().post(
                f"{self._base}{path}", data=body, headers=headers, timeout=self._timeout
            ) as answer:
                return answer.status, await answer.content.read(_MAX_ANSWER + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("gateway %s unreachable: %s", psp_id, type(error).__name__)
            raise DependencyError("psp", f"unreachable ({type(error).__name__})") from error

    async def build_order(
        self,
        *,
        psp_id: str,
        wallet_id: str,
        order_id: str,
        contract_id: str,
        return_url: str,
        notification_url: str,
        notification_token: str,
    ) -> GatewaySession:
        status, raw = await self._post(
            psp_id,
            "/orders/build",
            {
                "orderId": order_id,
                "walletId": wallet_id,
                "contractId": contract_id,
                "paymentService": "CARDS",
                "resultUrl": return_url,
                "notificationUrl": notification_url,
                "notificationToken": notification_token,
            },
        )
        _refuse_failure(psp_id, status, "session")
        return _parse_session(raw)

    async def confirm_card(self, *, psp_id: str, order_id: str, session_id: str) -> CardData:
        status, raw = await self._post(
            psp_id, f"/orders/{order_id}/confirm", {"sessionId": session_id, "amount": "0"}
        )
        if status == 409:
            raise Conflict("the card has not been entered on the gateway's page yet")
        _refuse_failure(psp_id, status, "card verification")
        return _parse_card(raw)


def _refuse_failure(psp_id: str, status: int, what: str) -> None:
    if status not in (200, 201):
        logger.warning("gateway %s refused a %s: HTTP %s", psp_id, what, status)
        retry = 5.0 if status in (429, 503) else 30.0
        raise DependencyError("psp", f"{what} refused (HTTP {status})", retry_after=retry)


def _json(raw: bytes) -> dict[str, object]:
    if len(raw) > _MAX_ANSWER:
        raise DependencyError("psp", "answer too large")
    try:
        answer = json.loads(raw)
    except ValueError:
        raise DependencyError("psp", "unreadable answer") from None
    if not isinstance(answer, dict):
        raise DependencyError("psp", "unreadable answer")
    return answer


def _parse_session(raw: bytes) -> GatewaySession:
    answer = _json(raw)
    session_id, redirect_url = answer.get("sessionId"), answer.get("redirectUrl")
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 128:
        raise DependencyError("psp", "unusable session id")
    # Stored with the instrument: nothing card-like is kept. An identifier's check, not free
    # text's: a random id has a Luhn-valid run of digits between letters once in ~460.
    if identifier_contains_pan(session_id):
        raise DependencyError("psp", "unusable session id")
    if not isinstance(redirect_url, str) or urlsplit(redirect_url).scheme not in ("http", "https"):
        raise DependencyError("psp", "unusable redirect URL")
    return GatewaySession(session_id, redirect_url)


_EXPIRING = re.compile(r"^(0[1-9]|1[0-2])/([0-9]{2})$")


def _parse_card(raw: bytes) -> CardData:
    answer = _json(raw)
    fields = {k: answer.get(k) for k in ("bin", "lastFourDigits", "expiringDate", "circuit")}
    iframe = answer.get("iframeUrl")
    if not all(isinstance(v, str) for v in fields.values()) or not isinstance(iframe, str):
        raise DependencyError("psp", "unusable card data")
    bin_, last4, expiring, brand = (str(v) for v in fields.values())
    matched = _EXPIRING.match(expiring)
    if (
        not re.fullmatch(r"[0-9]{6,8}", bin_)
        or not re.fullmatch(r"[0-9]{4}", last4)
        or matched is None
        or not 0 < len(brand) <= 32
        or contains_pan(brand)
        or urlsplit(iframe).scheme not in ("http", "https")
    ):
        raise DependencyError("psp", "unusable card data")
    month, year = matched.groups()
    return CardData(bin_, last4, f"20{year}{month}", brand, iframe)
