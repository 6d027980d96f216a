"""Installation ids, the tag that targets one installation, and hub partitioning.

A citizen's installation id is the SHA-256 hex of the fiscal code, so no personal data reaches
Notification Hubs. Installations are spread over several hubs (possibly in several namespaces)
by the FIRST hex digit of the installation id itself, as IO's push backend splits its hubs
(``NH<n>_PARTITION_REGEX`` such as ``^[0-3]`` tested against that same hash), so a hub layout
can be shared with IO's deployed hubs; each hub's settings name the digits it takes
(``PUSH_HUB_<n>_DIGITS``) and :func:`~shared.push.settings.push_hubs` checks that they cover
0-f exactly once, so every installation lands on exactly one hub. Sources:
docs/notification-hubs.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from shared.auth.fiscal_code import fiscal_code_hash
from shared.platform.errors import ConfigurationError
from shared.push.settings import HEX_DIGITS, PushHubSetting

H = TypeVar("H")


def installation_id(fiscal_code: str) -> str:
    """The installation id of a citizen: SHA-256 hex of the (validated, upper-case) code."""
    return fiscal_code_hash(fiscal_code)


def installation_tag(installation: str) -> str:
    """The tag expression that targets exactly ``installation``: ``$InstallationId:{<id>}``.

    The braces are literal: the service matches only this form, and answers 201 to any other
    (``$InstallationId:<id>`` included) while delivering to nobody.
    """
    return "$InstallationId:{" + installation + "}"


def hub_digit(installation: str) -> str:
    """The hex digit that chooses the hub of ``installation``: its first character.

    Raises:
        ValueError: ``installation`` does not start with a lower-case hex digit (an installation
            id is a SHA-256 hex digest, see :func:`installation_id`).
    """
    digit = installation[:1]
    if not digit or digit not in HEX_DIGITS:
        raise ValueError("an installation id starts with a lower-case hex digit")
    return digit


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
