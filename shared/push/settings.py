"""The push hubs' settings: ``PUSH_HUB_<n>_CONNECTION``, ``_NAME`` and ``_DIGITS``.

Indexed settings that pydantic-settings cannot map by itself. They are checked on first use
(and by ``/api/health``), not when the app's Settings load: a bad hub layout stops push, not the
whole app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.platform.errors import ConfigurationError

HEX_DIGITS = "0123456789abcdef"
_HUB_SETTING = re.compile(r"PUSH_HUB_(\d+)_(CONNECTION|NAME|DIGITS)")
_HUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,259}")
_DIGIT_ITEM = re.compile(r"([0-9a-f])(?:-([0-9a-f]))?")


@dataclass(frozen=True)
class HubConnection:
    """A Notification Hubs connection string, parsed.

    ``endpoint`` is the base URL of the REST API: ``sb://<ns>.servicebus.windows.net/`` becomes
    ``https://<ns>.servicebus.windows.net/``; ``http(s)://host:port/`` is kept, so any local
    server that speaks the REST API can stand in for the service.
    """

    endpoint: str
    key_name: str
    key: str

    @property
    def namespace(self) -> str:
        """host[:port] of the namespace: one shared HTTP session each."""
        return urlsplit(self.endpoint).netloc.lower()

    def __repr__(self) -> str:  # never the key
        return f"HubConnection(endpoint={self.endpoint!r}, key_name={self.key_name!r})"


@dataclass(frozen=True)
class PushHubSetting:
    """One hub: ``PUSH_HUB_<index>_CONNECTION``, ``_NAME`` and the hex ``_DIGITS`` it takes."""

    index: int
    name: str
    connection: HubConnection
    digits: frozenset[str]


def parse_hub_connection(raw: str) -> HubConnection:
    """Parse ``Endpoint=...;SharedAccessKeyName=...;SharedAccessKey=...``.

    Raises:
        ValueError: what is wrong with it (never the key itself).
    """
    text = raw.strip()
    if text.startswith("@Microsoft.KeyVault("):
        raise ValueError("is a Key Vault reference that the platform did not resolve")
    parts: dict[str, str] = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError("is not a connection string (Name=value pairs separated by ';')")
        parts[name.strip().lower()] = value.strip()
    missing = [
        name
        for name, key in (
            ("Endpoint", "endpoint"),
            ("SharedAccessKeyName", "sharedaccesskeyname"),
            ("SharedAccessKey", "sharedaccesskey"),
        )
        if not parts.get(key)
    ]
    if missing:
        raise ValueError(f"lacks {', '.join(missing)}")
    url = urlsplit(parts["endpoint"])
    if url.scheme not in {"sb", "https", "http"} or not url.netloc:
        raise ValueError("has an Endpoint that is not sb://<namespace>/ nor http(s)://host/")
    scheme = "https" if url.scheme == "sb" else url.scheme
    return HubConnection(
        f"{scheme}://{url.netloc}/", parts["sharedaccesskeyname"], parts["sharedaccesskey"]
    )


def parse_digits(raw: str) -> frozenset[str]:
    """``"0-3"``, ``"4,5,6"``, ``"a-f"``, ``"0-3,8"`` -> the set of hex digits (lower case).

    Raises:
        ValueError: a malformed item, a reversed range, or a digit listed twice.
    """
    digits: set[str] = set()
    items = [item.strip().lower() for item in raw.split(",")]
    if not any(items):
        raise ValueError("is empty")
    for item in items:
        found = _DIGIT_ITEM.fullmatch(item)
        if found is None:
            raise ValueError(f"has {item!r}: use hex digits and ranges such as 0-3,8,a-f")
        first, last = found.group(1), found.group(2) or found.group(1)
        if HEX_DIGITS.index(first) > HEX_DIGITS.index(last):
            raise ValueError(f"has the reversed range {item!r}")
        span = HEX_DIGITS[HEX_DIGITS.index(first) : HEX_DIGITS.index(last) + 1]
        twice = digits.intersection(span)
        if twice:
            raise ValueError(f"lists digit {min(twice)} twice")
        digits.update(span)
    return frozenset(digits)


def push_hubs(values: Mapping[str, str] | None = None) -> tuple[PushHubSetting, ...]:
    """The push hubs from ``PUSH_HUB_<n>_*`` in ``values`` (default: the environment).

    Every hub needs all three settings, and the hubs' digits must cover 0-f exactly once.

    Raises:
        ConfigurationError: one report naming every problem found.
    """
    source = os.environ if values is None else values
    found: dict[int, dict[str, str]] = {}
    for name, value in source.items():
        match = _HUB_SETTING.fullmatch(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if not found:
        raise ConfigurationError(
            "No push hub is configured: set PUSH_HUB_1_CONNECTION, PUSH_HUB_1_NAME and "
            "PUSH_HUB_1_DIGITS (0-f for a single hub)."
        )
    problems: list[str] = []
    hubs: list[PushHubSetting] = []
    for index in sorted(found):
        prefix, parts = f"PUSH_HUB_{index}", found[index]
        unset = [
            f"{prefix}_{part}"
            for part in ("CONNECTION", "NAME", "DIGITS")
            if not parts.get(part, "").strip()
        ]
        if unset:
            problems.append(f"{', '.join(unset)} not set")
            continue
        name = parts["NAME"].strip()
        try:
            connection = parse_hub_connection(parts["CONNECTION"])
            if not _HUB_NAME.fullmatch(name):
                raise ValueError(f"{prefix}_NAME is not a valid hub name")
            digits = parse_digits(parts["DIGITS"])
        except ValueError as error:
            where = "" if str(error).startswith(prefix) else f"{prefix}: "
            problems.append(f"{where}{error}")
            continue
        hubs.append(PushHubSetting(index, name, connection, digits))
    if not problems:
        problems.extend(_coverage_problems(hubs))
    if problems:
        raise ConfigurationError(
            "The push hub settings are not valid:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    return tuple(hubs)


def _coverage_problems(hubs: list[PushHubSetting]) -> list[str]:
    owners: dict[str, list[str]] = {digit: [] for digit in HEX_DIGITS}
    for hub in hubs:
        for digit in hub.digits:
            owners[digit].append(f"PUSH_HUB_{hub.index}")
    problems: list[str] = []
    gaps = [digit for digit in HEX_DIGITS if not owners[digit]]
    if gaps:
        problems.append(
            f"no hub takes digit(s) {', '.join(gaps)}: the PUSH_HUB_<n>_DIGITS "
            "must cover 0-f exactly once"
        )
    shared: dict[tuple[str, ...], list[str]] = {}
    for digit in HEX_DIGITS:
        if len(owners[digit]) > 1:
            shared.setdefault(tuple(owners[digit]), []).append(digit)
    for who, digits in shared.items():
        problems.append(
            f"digit(s) {', '.join(digits)} taken by {' and '.join(who)}: the "
            "PUSH_HUB_<n>_DIGITS must cover 0-f exactly once"
        )
    return problems


def check_push_hubs() -> None:
    """Raise ConfigurationError if the push hub settings are not valid (for /api/health)."""
    push_hubs()
