"""Shared Access Signature tokens for Notification Hubs, cached and renewed before expiry.

A token is ``SharedAccessSignature sr=<r>&sig=<s>&se=<expiry>&skn=<key name>`` where ``r`` is the
URL-encoded, lower-cased resource URI (``https://<ns>.servicebus.windows.net/<hub>``), ``s`` the
URL-encoded base64 HMAC-SHA256 of ``"<r>\\n<expiry>"`` under the key, and ``expiry`` a Unix time.
Signing is cheap but not free, and a token per request makes every request unique for no
reason: :class:`SasTokens` signs once and hands out the same token until ``renew_before``
seconds before it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

from shared.platform.clock import Clock


def resource_uri(endpoint: str, hub: str) -> str:
    """The URI a hub's tokens are scoped to: ``<endpoint>/<hub>``, lower case."""
    return f"{endpoint.rstrip('/')}/{hub}".lower()


def encoded_resource(uri: str) -> str:
    """The ``sr`` value: the lower-cased URI, URL-encoded, with lower-case escapes."""
    return quote(uri.lower(), safe="").lower()


def sign(uri: str, key_name: str, key: str, expiry: int) -> str:
    """A SAS token for ``uri`` valid until ``expiry`` (Unix seconds)."""
    resource = encoded_resource(uri)
    digest = hmac.new(key.encode(), f"{resource}\n{expiry}".encode(), hashlib.sha256).digest()
    signature = quote(base64.b64encode(digest).decode(), safe="")
    return f"SharedAccessSignature sr={resource}&sig={signature}&se={expiry}&skn={key_name}"


class SasTokens:
    """One hub's token, reused until ``renew_before`` seconds before it expires."""

    def __init__(
        self, uri: str, key_name: str, key: str, *, clock: Clock, ttl: int, renew_before: int
    ) -> None:
        if renew_before >= ttl:
            raise ValueError("renew_before must be shorter than ttl")
        self._uri = uri
        self._key_name = key_name
        self._key = key
        self._clock = clock
        self._ttl = ttl
        self._renew_before = renew_before
        self._token = ""
        self._expiry = 0
        self.signed = 0

    def token(self) -> str:
        now = int(self._clock.now().timestamp())
        if now >= self._expiry - self._renew_before:
            self._expiry = now + self._ttl
            self._token = sign(self._uri, self._key_name, self._key, self._expiry)
            self.signed += 1
        return self._token

    def __repr__(self) -> str:  # never the key
        return f"SasTokens(uri={self._uri!r}, key_name={self._key_name!r})"
