"""The cashback's own setting: ``CASHBACK_PERIODS``, parsed into award periods.

The platform's Settings keep the raw text (the platform knows no capability); this module turns
it into periods, and the health probe reports a bad value with its reason.
"""

from __future__ import annotations

from shared.cashback.rules import Period, parse_periods
from shared.platform.config import get_settings
from shared.platform.errors import ConfigurationError


def configured_periods(raw: str) -> tuple[Period, ...]:
    """The award periods of the setting's text (empty: the programme's production periods).

    Raises:
        ConfigurationError: the setting is not a valid list of periods, with the reason.
    """
    try:
        return parse_periods(raw)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def check_cashback_periods() -> None:
    """Raise ConfigurationError if ``CASHBACK_PERIODS`` is not valid (for /api/health)."""
    configured_periods(get_settings().cashback_periods)
