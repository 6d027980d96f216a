"""Installation ids and hub partitioning.

A citizen's installation id is the SHA-256 hex of the fiscal code, so no personal data reaches
Notification Hubs. Installations are spread over several hubs (possibly in several namespaces)
by the first hex digit of SHA-256(installation id); each hub's settings name the digits it takes
(``PUSH_HUB_<n>_DIGITS``) and :func:`~shared.push.settings.push_hubs` checks that they cover
0-f exactly once, so every installation lands on exactly one hub.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from shared.auth.fiscal_code import fiscal_code_hash
from shared.platform.errors import ConfigurationError
from shared.push.settings import HEX_DIGITS, PushHubSetting

H = TypeVar("H")


def installation_id(fiscal_code: str) -> str:
    """The installation id of a citizen: SHA-256 hex of the (validated, upper-case) code."""
    return fiscal_code_hash(fiscal_code)


def hub_digit(installation: str) -> str:
    """The hex digit that chooses the hub of ``installation``."""
    return hashlib.sha256(installation.encode()).hexdigest()[0]


class HubRouter(Generic[H]):
    """Maps each installation to the one hub that takes its digit."""

    def __init__(self, by_digit: Mapping[str, H]) -> None:
        missing = [digit for digit in HEX_DIGITS if digit not in by_digit]
        if missing:
            raise ConfigurationError(f"no hub takes digit(s) {', '.join(missing)}")
        self._by_digit = dict(by_digit)

    @classmethod
    def build(
        cls, settings: Sequence[PushHubSetting], make: Callable[[PushHubSetting], H]
    ) -> HubRouter[H]:
        """One ``make(setting)`` per hub, routed by the digits each setting takes."""
        by_digit: dict[str, H] = {}
        for setting in settings:
            hub = make(setting)
            for digit in setting.digits:
                if digit in by_digit:
                    raise ConfigurationError(f"digit {digit} is taken by more than one hub")
                by_digit[digit] = hub
        return cls(by_digit)

    def hub_for(self, installation: str) -> H:
        return self._by_digit[hub_digit(installation)]
