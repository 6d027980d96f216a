"""Pseudonymous user ids: how the wallet (and what consumes it) names a citizen.

A user id is HMAC-SHA256 of the citizen's fiscal code with the secret :data:`SECRET_NAME`
(Key Vault in Azure, ``LOCAL_SECRETS`` locally), 64 hex characters: pagoPA's wallet keys its
citizens by a pseudonymous ``x-user-id`` the same way (pagopa-wallet-service,
``api-spec/wallet-api.yaml``). Unlike a plain hash of the fiscal code (whose few billion
values can be enumerated), it cannot be reversed without the key. It is computed at the edge
(the HTTP triggers, from the verified token), so the wallet's documents and events never hold a
fiscal code; cashback computes the same id from the citizen it enrolled to follow the wallet's
events. Rotation is a migration, not a setting change: see docs/wallet.md#user-ids.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from shared.auth.secrets import SecretProvider
from shared.platform.errors import ConfigurationError

__all__ = ["SECRET_NAME", "USER_ID", "UserIds", "user_id"]

SECRET_NAME = "wallet-user-id-key"
USER_ID = r"^[0-9a-f]{64}$"
_SHAPE = re.compile(USER_ID)


def user_id(key: str, fiscal_code: str) -> str:
    """The user id of ``fiscal_code`` (a valid, normalised code) under ``key``."""
    return hmac.new(key.encode(), fiscal_code.encode("ascii"), hashlib.sha256).hexdigest()


def is_user_id(value: str) -> bool:
    return bool(_SHAPE.match(value))


class UserIds:
    """User ids with the key in the secret :data:`SECRET_NAME`."""

    def __init__(self, secrets: SecretProvider, *, secret_name: str = SECRET_NAME) -> None:
        self._secrets = secrets
        self._name = secret_name

    async def of(self, fiscal_code: str) -> str:
        """The user id of ``fiscal_code``.

        Raises:
            ConfigurationError: the key is missing or shorter than 32 characters.
        """
        key = (await self._secrets.get(self._name)).strip()
        if len(key) < 32:
            raise ConfigurationError(f"secret {self._name!r} must be at least 32 characters")
        return user_id(key, fiscal_code)
