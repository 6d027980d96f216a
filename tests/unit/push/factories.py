"""Valid test data for push tests (imported by the push tests of every layer)."""

from __future__ import annotations

import string

from shared.auth.fiscal_code import check_character
from shared.push.models import HubInstallation, NativeNotification


def fiscal_code(n: int) -> str:
    """The ``n``-th of 26**6 distinct, valid fiscal codes (RSSMRA-like, born 10 Dec 1985)."""
    letters = ""
    for _ in range(6):
        n, rest = divmod(n, 26)
        letters += string.ascii_uppercase[rest]
    first15 = f"{letters}85T10A562"
    return first15 + check_character(first15)


def device_token(n: int) -> str:
    """An APNs-like device token (64 hex characters), distinct per ``n``."""
    return f"{n:064x}"


HUBS = ("hub-a", "hub-b")


def hub_values(port: int, hubs: tuple[str, ...] = HUBS) -> dict[str, str]:
    """PUSH_HUB_<n>_* for ``hubs`` on one simulator at ``port``, the digits split evenly."""
    from local.nhsim import connection_string
    from shared.push.settings import HEX_DIGITS

    values: dict[str, str] = {}
    size = len(HEX_DIGITS) // len(hubs)
    for index, name in enumerate(hubs, start=1):
        first = HEX_DIGITS[(index - 1) * size]
        last = HEX_DIGITS[-1] if index == len(hubs) else HEX_DIGITS[index * size - 1]
        values[f"PUSH_HUB_{index}_CONNECTION"] = connection_string(port)
        values[f"PUSH_HUB_{index}_NAME"] = name
        values[f"PUSH_HUB_{index}_DIGITS"] = f"{first}-{last}"
    return values


def push_settings(port: int, **overrides: str):  # type: ignore[no-untyped-def]
    """Valid app settings with the push hubs on the simulator at ``port``."""
    from shared.platform.config import load_settings
    from tests.conftest import base_settings

    values = {
        key: value for key, value in base_settings().items() if not key.startswith("PUSH_HUB_")
    }
    values["CITIZEN_JWT_PUBLIC_KEY"] = "not used: push work needs no citizen token"
    values.update(hub_values(port))
    values.update(overrides)
    return load_settings(values), values


class FakeHubs:
    """Installations and sends as the hubs would keep them (the worker's Hubs port)."""

    def __init__(self) -> None:
        self.installations: dict[str, HubInstallation] = {}
        self.sends: list[tuple[str, str, NativeNotification]] = []
        self.calls: list[str] = []

    async def create_or_update(self, installation: HubInstallation) -> None:
        self.calls.append(f"put {installation.installation_id}")
        self.installations[installation.installation_id] = installation

    async def delete(self, installation: str) -> None:
        self.calls.append(f"delete {installation}")
        self.installations.pop(installation, None)

    async def send(
        self, installation: str, platform: str, notification: NativeNotification
    ) -> None:
        self.sends.append((installation, platform, notification))
