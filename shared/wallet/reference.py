"""Wallet ids that route a gateway notification to its citizen without a lookup.

The gateway's notification names only the ``walletId``; the instrument lives in its owner's
partition (the owner's pseudonymous user id, :mod:`shared.auth.user_ids`). Rather than a route
document read on every notification (one more Cosmos round trip, and one more write when the
session opens), the walletId itself carries the owner, encrypted: ``"w" + base64url(nonce ||
AES-256-GCM(the user id's 32 bytes))``, 81 characters.

- Only the app can read it (the PSP, the citizen's app and event consumers see an opaque id;
  two ids of one citizen share nothing), and a changed character fails the GCM tag, so a forged
  id never picks a partition.
- Citizens' own requests never decode it: their partition comes from their token, and the id is
  just the document id, so a walletId of someone else is "not found" exactly as before.
- The key is the secret :data:`SECRET_NAME` (Key Vault in Azure, ``LOCAL_SECRETS`` locally):
  one or more comma-separated values, newest first. New ids use the first; any decodes. Ids are
  decoded only for notifications, which come within the session window (30 minutes) or as PSP
  retries shortly after: keep a replaced key listed for a day and then drop it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.auth.secrets import SecretProvider
from shared.platform.errors import ConfigurationError
from shared.wallet.models import WALLET_ID

__all__ = ["SECRET_NAME", "WalletIds", "is_wallet_id"]

SECRET_NAME = "wallet-reference-key"
_PREFIX = "w"
_NONCE = 12
_PURPOSE = b"centro-stella wallet id v2"
_USER_ID_BYTES = 32
_SHAPE = re.compile(WALLET_ID)


def _encode(raw: bytes) -> str:
    return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key(secret: str) -> AESGCM:
    return AESGCM(hashlib.sha256(_PURPOSE + b"\x00" + secret.encode()).digest())


class WalletIds:
    """Makes and reads wallet ids with the keys in the secret :data:`SECRET_NAME`."""

    def __init__(self, secrets: SecretProvider, *, secret_name: str = SECRET_NAME) -> None:
        self._secrets = secrets
        self._name = secret_name
        self._keys: tuple[str, list[AESGCM]] | None = None

    async def _current(self) -> list[AESGCM]:
        # The provider caches (Key Vault for minutes); the keys are rebuilt only when it changes.
        value = await self._secrets.get(self._name)
        if self._keys is None or self._keys[0] != value:
            secrets = [s.strip() for s in value.split(",") if s.strip()]
            if not secrets or any(len(s) < 32 for s in secrets):
                raise ConfigurationError(
                    f"secret {self._name!r} must hold one or more "
                    "comma-separated keys of at least 32 characters"
                )
            self._keys = (value, [_key(s) for s in secrets])
        return self._keys[1]

    async def new(self, user_id: str) -> str:
        """A fresh walletId for an instrument of ``user_id`` (64 hex characters)."""
        nonce = os.urandom(_NONCE)
        sealed = (await self._current())[0].encrypt(nonce, bytes.fromhex(user_id), _PURPOSE)
        return _encode(nonce + sealed)

    async def owner(self, wallet_id: str) -> str | None:
        """The user id ``wallet_id`` was made for; None if this app did not make it."""
        if not _SHAPE.match(wallet_id):
            return None
        try:
            raw = base64.urlsafe_b64decode(wallet_id[1:] + "=" * (-len(wallet_id[1:]) % 4))
        except (binascii.Error, ValueError):
            return None
        if _encode(raw) != wallet_id:
            return None  # the last character's spare bits changed: not an id this app made
        nonce, sealed = raw[:_NONCE], raw[_NONCE:]
        for key in await self._current():
            try:
                plain = key.decrypt(nonce, sealed, _PURPOSE)
            except InvalidTag:
                continue
            return plain.hex() if len(plain) == _USER_ID_BYTES else None
        return None


def is_wallet_id(value: str) -> bool:
    """Whether ``value`` has the shape of a walletId (checked before any read)."""
    return bool(_SHAPE.match(value))
