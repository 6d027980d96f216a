"""The wallet's own reading of its settings: where the payment gateway posts outcomes.

``WALLET_NOTIFICATION_URL`` is configuration only, never derived from a request: a caller
choosing the ``Host`` header would otherwise choose where the gateway posts outcomes (and the
session's bearer token). It is the base of the wallets' routes; each session's notification
route ``/{walletId}/sessions/{orderId}/notifications`` is appended to it. The infra
sets it from the app's own hostname; the dev host sets it to its own address. Empty or unusable,
onboarding refuses (nothing is opened at a PSP) and ``/api/health`` reports it.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from shared.platform.config import get_settings
from shared.platform.errors import ConfigurationError

_LOOPBACK_NAMES = frozenset({"localhost"})


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def notification_url(configured: str | None) -> str:
    """``WALLET_NOTIFICATION_URL``, checked: an absolute ``https`` URL (``http`` only to this
    machine) with no credentials, query or fragment, so no key ever rides along to a PSP.

    Raises:
        ConfigurationError: empty or not such a URL, with the reason.
    """
    if not configured or not configured.strip():
        raise ConfigurationError(
            "WALLET_NOTIFICATION_URL is not set: the base of the routes where the payment "
            "gateway posts onboarding outcomes, e.g. https://<app>.azurewebsites.net/api/v1/"
            "wallets (the infra sets it; it is never taken from a request)"
        )
    url = configured.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise ConfigurationError("WALLET_NOTIFICATION_URL is not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError("WALLET_NOTIFICATION_URL must be an absolute https URL")
    if parts.scheme == "http" and not _loopback(host):
        raise ConfigurationError(
            "WALLET_NOTIFICATION_URL must be https (http only to this machine, locally)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError(
            "WALLET_NOTIFICATION_URL must carry no credentials, query or fragment: the gateway "
            "gets the address and the session's own token, nothing else of ours"
        )
    return url


def check_wallet_settings() -> None:
    """Raise ConfigurationError if ``WALLET_NOTIFICATION_URL`` is not usable (for /api/health)."""
    notification_url(get_settings().wallet_notification_url)
