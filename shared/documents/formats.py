"""How the documents write money and time: the Italian way, in Europe/Rome.

pagoPA's receipt prints amounts as ``150,00`` followed by the euro sign and the payment's time as
``24 ottobre 2022, 18:45:56`` (pagopa/pagopa-template-receipt-pdf,
``receipt/success/json/authenticated-pdf.json``); the paper notice prints its due date as a
day (``dd/mm/yyyy``).
"""

from __future__ import annotations

from datetime import date, datetime

from shared.platform.clock import ROME

__all__ = ["euros", "italian_date", "italian_timestamp"]

_MONTHS = (
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
)


def euros(cents: int) -> str:
    """``123456`` -> ``1.234,56`` (thousands with '.', decimals with ',')."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{rest:02d}"


def italian_timestamp(moment: datetime) -> str:
    """An aware ``moment`` as the receipt shows it, in Europe/Rome: ``24 ottobre 2022,
    18:45:56``."""
    local = moment.astimezone(ROME)
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}, {local:%H:%M:%S}"


def italian_date(day: date) -> str:
    return f"{day:%d/%m/%Y}"
