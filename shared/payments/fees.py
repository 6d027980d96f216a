"""The fee each PSP charges a citizen for paying a notice, from configuration.

``PAYMENTS_PSP_FEES`` is a JSON object of PSP party ids to euro cents, e.g. ``{"DEMOPSP": 100}``;
the transaction shows the fee before the citizen confirms and the receipt keeps it. A PSP that
is not listed cannot take payments: better refused than charged an unknown fee.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from shared.platform.errors import ConfigurationError

__all__ = ["Fees", "parse_fees"]

MAX_FEE = 100_000
"""A thousand euro: anything above is a typo in the setting, not a fee."""


class Fees:
    def __init__(self, by_psp: Mapping[str, int]) -> None:
        self._by_psp = dict(by_psp)

    def of(self, psp_id: str) -> int:
        """The fee of ``psp_id`` in cents.

        Raises:
            ConfigurationError: ``PAYMENTS_PSP_FEES`` names no fee for it.
        """
        try:
            return self._by_psp[psp_id]
        except KeyError:
            raise ConfigurationError(f"PAYMENTS_PSP_FEES names no fee for PSP {psp_id}") from None


def parse_fees(raw: str) -> Fees:
    """``PAYMENTS_PSP_FEES`` read and checked.

    Raises:
        ConfigurationError: not a JSON object of PSP ids to whole cents in 0..MAX_FEE.
    """
    try:
        found = json.loads(raw)
    except ValueError:
        raise ConfigurationError("PAYMENTS_PSP_FEES is not JSON") from None
    if not isinstance(found, dict) or not found:
        raise ConfigurationError("PAYMENTS_PSP_FEES must be a JSON object of PSP ids to cents")
    for psp_id, fee in found.items():
        if isinstance(fee, bool) or not isinstance(fee, int) or not 0 <= fee <= MAX_FEE:
            raise ConfigurationError(
                f"PAYMENTS_PSP_FEES: the fee of {psp_id} must be whole cents, 0 to {MAX_FEE}"
            )
    return Fees(found)
