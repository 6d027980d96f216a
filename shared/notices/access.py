"""Who may write or read which position: the checks of :mod:`shared.notices.service`.

An EC writes its own ``paFiscalCode``; an intermediary (or an EC that brokers) writes for the
ECs the party registry lists in its ``actsFor``, limited to the segregation codes listed there,
and a request's ``segregationCodes`` can only narrow that. The code is checked on every
identifier that carries one: the IUV's first two digits and, for a nav with aux digit 3, its two
digits after it. A party that may not act for the EC at all is a 403 (pagoPA's spec is silent);
a segregation code it may not use is pagoPA's 409 "Unauthorized action".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.notices.identity import AUX_DIGIT, nav_segregation_code, segregation_code
from shared.notices.models import EC_FISCAL_CODE, MAX_TEXT, NAV, PositionIn
from shared.parties.models import Party
from shared.parties.service import authorize_for_ec
from shared.platform.errors import Conflict, Forbidden, Invalid
from shared.platform.values import unsafe_character

EC = re.compile(EC_FISCAL_CODE)
NODE_NAV = re.compile(NAV)


class SegregationRefused(Conflict):
    """pagoPA's 409 "Unauthorized action": a segregation code the caller may not use."""

    title = "Unauthorized action"


def parse_segregation_codes(raw: str | None) -> list[str] | None:
    """``"01,02"`` -> ``["01", "02"]``; None when absent; Invalid (400) when malformed."""
    if raw is None:
        return None
    codes = [code.strip() for code in raw.split(",")]
    bad = [code for code in codes if len(code) != 2 or not code.isascii() or not code.isdigit()]
    if bad or not codes:
        raise Invalid(
            "segregationCodes must be comma-separated two-digit codes, e.g. 01,02",
            errors=[
                {
                    "loc": ["query", "segregationCodes"],
                    "type": "pattern",
                    "msg": "comma-separated two-digit codes",
                }
            ],
        )
    return sorted(set(codes))


def write_codes(position: PositionIn) -> dict[str, str | None]:
    """The segregation code of each identifier of a write that can carry one (None: the IUV
    carries none). A nav without aux digit 3 carries none and names nothing by its digits."""
    codes: dict[str, str | None] = {"IUV": segregation_code(position.iuv)}
    if position.the_nav.startswith(AUX_DIGIT):
        codes["nav"] = nav_segregation_code(position.the_nav)
    return codes


def authorize_write(
    party: Party, position: PositionIn, segregation_codes: Sequence[str] | None
) -> None:
    """Raise unless ``party`` may write ``position``.

    Raises:
        Forbidden: (403) the party may not act for the position's EC at all.
        SegregationRefused: (409) the segregation code of one of its identifiers is not one the
            registry gives the party for that EC or, if the request names some, not one of
            those (the request narrows what the registry allows, never widens it).
    """
    authorize_for_ec(party, position.pa_fiscal_code)
    codes = write_codes(position)
    where = f"debt position with iuv {position.iuv}"
    if segregation_codes is not None:
        for name, code in codes.items():
            if code not in segregation_codes:
                raise SegregationRefused(
                    f"Unauthorized action on {where}: the {name}'s segregation code "
                    f"{code!r} is not among the request's segregationCodes "
                    f"({','.join(segregation_codes)})"
                )
    try:
        authorize_for_ec(party, position.pa_fiscal_code, codes.values())
    except Forbidden as refused:
        raise SegregationRefused(f"Unauthorized action on {where}: {refused.detail}") from None


def check_keys(pa_fiscal_code: str, nav: str) -> None:
    """Invalid (400) unless the arguments name a notice the node can carry: an 11-digit EC and
    an 18-digit notice number."""
    errors = []
    if not EC.fullmatch(pa_fiscal_code):
        errors.append({"loc": ["path", "paFiscalCode"], "type": "pattern", "msg": "11 digits"})
    if not NODE_NAV.fullmatch(nav):
        errors.append(
            {
                "loc": ["path", "nav"],
                "type": "pattern",
                "msg": "18 digits: only such a notice number can be paid through the node, "
                "printed or QR-encoded",
            }
        )
    if errors:
        raise Invalid(
            "a notice the node can carry is named by an 11-digit paFiscalCode and an 18-digit "
            "notice number (a position with another nav is in the archive but cannot be paid "
            "through the node, printed or QR-encoded)",
            errors=errors,
        )


def check_read_keys(pa_fiscal_code: str, nav: str) -> None:
    """Invalid (400) unless the arguments could name a position at all."""
    errors = []
    if len(pa_fiscal_code) != 11:
        errors.append({"loc": ["path", "paFiscalCode"], "type": "length", "msg": "11 characters"})
    if not 1 <= len(nav) <= MAX_TEXT or unsafe_character(nav):
        errors.append({"loc": ["path", "nav"], "type": "length", "msg": "1 to 255 characters"})
    if errors:
        raise Invalid("a position is named by its paFiscalCode and its nav", errors=errors)
