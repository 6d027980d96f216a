"""HMAC signatures on requests from payment service providers (PSPs).

The PSP sends ``x-signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256, keyed with the PSP's shared secret, of ``b"<t>." + raw body``.
The header may carry several ``v1`` entries (the PSP signs with each of its
active secrets while rotating); any match passes. Our side may likewise hold
several secrets while rotating. Entries with other keys (``v0``, ...) are ignored.

A signature is accepted only within ``skew_seconds`` of ``now`` (either way) and
only once: :func:`verify_signed_request` records it in a :class:`ReplayGuard`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from shared.platform.errors import Unauthorized

__all__ = [
    "HEADER",
    "ReplayGuard",
    "sign",
    "verify_signature",
    "verify_signed_request",
]

logger = logging.getLogger(__name__)

HEADER = "x-signature"
DEFAULT_SKEW_SECONDS = 300
_MAX_HEADER_LENGTH = 2048
_MAX_SIGNATURES = 8
_HEX_LENGTH = 64  # SHA-256
_HEX_CHARS = frozenset("0123456789abcdefABCDEF")
_MAX_T_DIGITS = 12


def _mac(secret: str, body: bytes, t: int) -> str:
    message = str(t).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, t: int) -> str:
    """Build the ``x-signature`` header value for ``body`` signed at unix time ``t``."""
    if not secret:
        raise ValueError("secret must not be empty")
    if t < 0:
        raise ValueError("t must not be negative")
    return f"t={t},v1={_mac(secret, body, t)}"


def _parse(header: str | None) -> tuple[int, list[str]]:
    """Split the header into its timestamp and its ``v1`` hex digests (lowercased)."""
    if header is None or not header.strip():
        raise Unauthorized("missing x-signature header")
    if len(header) > _MAX_HEADER_LENGTH:
        raise Unauthorized("malformed x-signature header: too long")
    t_text: str | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise Unauthorized("malformed x-signature header: expected t=<seconds>,v1=<hex>")
        if key == "t":
            if t_text is not None:
                raise Unauthorized("malformed x-signature header: more than one t")
            t_text = value
        elif key == "v1":
            if len(value) != _HEX_LENGTH or not set(value) <= _HEX_CHARS:
                raise Unauthorized(
                    f"malformed x-signature header: v1 must be {_HEX_LENGTH} hex characters"
                )
            digests.append(value.lower())
    if t_text is None:
        raise Unauthorized("malformed x-signature header: no timestamp (t)")
    if (
        not t_text.isascii()
        or not t_text.isdigit()
        or len(t_text) > _MAX_T_DIGITS
        or (len(t_text) > 1 and t_text.startswith("0"))
    ):
        raise Unauthorized("malformed x-signature header: t must be unix seconds")
    if not digests:
        raise Unauthorized("malformed x-signature header: no v1 signature")
    if len(digests) > _MAX_SIGNATURES:
        raise Unauthorized("malformed x-signature header: too many v1 signatures")
    return int(t_text), digests


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _verify(
    header: str | None,
    body: bytes,
    secret: str | Sequence[str],
    now: datetime,
    skew_seconds: int,
) -> tuple[str, int]:
    _require_aware(now)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(secrets):
        raise ValueError("at least one non-empty secret is needed")

    t, digests = _parse(header)
    age = now.timestamp() - t
    if age > skew_seconds:
        raise Unauthorized("signature timestamp is too old")
    if age < -skew_seconds:
        raise Unauthorized("signature timestamp is in the future")

    expected = [_mac(s, body, t) for s in secrets]
    # Compare every pair (no early exit) so timing says nothing about which matched.
    matched = False
    for candidate in expected:
        for digest in digests:
            matched |= hmac.compare_digest(candidate, digest)
    if not matched:
        raise Unauthorized("signature does not match")
    return expected[0], t


def verify_signature(
    header: str | None,
    body: bytes,
    secret: str | Sequence[str],
    *,
    now: datetime,
    skew_seconds: int = DEFAULT_SKEW_SECONDS,
) -> str:
    """Check an ``x-signature`` header against the raw request body.

    Args:
        header: the ``x-signature`` header value, or None when absent.
        body: the raw request body, exactly as received.
        secret: the PSP's shared secret, or several (rotation: any may match).
        now: the current time, timezone-aware.
        skew_seconds: how far ``t`` may be from ``now``, in either direction.

    Returns:
        A signature id for replay checking: the hex HMAC of the message under
        the first secret (the ``v1`` value itself when there is one secret). It
        is the same whichever ``v1`` entry or secret matched, so a replay cannot
        get past the guard by presenting another of the header's signatures.

    Raises:
        Unauthorized: missing or malformed header, timestamp outside the
            allowed skew, or no ``v1`` entry matches.
    """
    signature_id, _ = _verify(header, body, secret, now, skew_seconds)
    return signature_id


class ReplayGuard(Protocol):
    """Remembers signature ids until they expire."""

    async def first_use(self, signature_id: str, expires_at: datetime) -> bool:
        """Record ``signature_id`` until ``expires_at``; False if it was already recorded."""
        ...


async def verify_signed_request(
    header: str | None,
    body: bytes,
    secret: str | Sequence[str],
    *,
    now: datetime,
    guard: ReplayGuard,
    skew_seconds: int = DEFAULT_SKEW_SECONDS,
) -> None:
    """Verify the signature (see :func:`verify_signature`) and refuse replays.

    The signature id is kept by ``guard`` until ``t + skew_seconds``; after that
    the timestamp check alone refuses it.

    Raises:
        Unauthorized: as :func:`verify_signature`, or ``"signature already used"``.
    """
    signature_id, t = _verify(header, body, secret, now, skew_seconds)
    expires_at = datetime.fromtimestamp(t + skew_seconds + 1, tz=UTC)
    if not await guard.first_use(signature_id, expires_at):
        logger.warning("replayed PSP signature refused (t=%s)", t)
        raise Unauthorized("signature already used")
