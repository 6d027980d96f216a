"""How the archive names positions and what their identifiers carry.

A position is named as pagoPA names it, by its IUPD ``ACA_<paFiscalCode>_<iuv>``
(``pagopa-aca-service`` ``domain/Iupd.kt``): the same IUV with another nav is the same position.
Its Cosmos id is the IUPD itself when that is a plain id, else a hash of it; a nav that is not
``"3" + iuv`` is claimed by a document of its own. The segregation code an identifier carries
is what authorization checks (:mod:`shared.notices.access`).
"""

from __future__ import annotations

import hashlib
import re

from shared.parties.models import PARTY_ID

AUX_DIGIT = "3"
"""The aux digit whose notice number is ``"3" + iuv``, so it carries the IUV's segregation code."""
IUPD_PREFIX = "ACA_"
_SAFE_ID = re.compile(r"[A-Za-z0-9_.\-]{1,255}")
_PARTY_ID = re.compile(PARTY_ID)


def default_nav(iuv: str) -> str:
    """The notice number of an IUV with aux digit 3 (``"3" + iuv``): pagoPA's default nav."""
    return AUX_DIGIT + iuv


def iupd(pa_fiscal_code: str, iuv: str) -> str:
    """pagoPA's name of an ACA position: ``ACA_<paFiscalCode>_<iuv>``."""
    return f"{IUPD_PREFIX}{pa_fiscal_code}_{iuv}"


def iuv_of_iupd(pa_fiscal_code: str, name: str) -> str | None:
    """The IUV an ACA IUPD of ``pa_fiscal_code`` names; None if it is not one."""
    prefix = f"{IUPD_PREFIX}{pa_fiscal_code}_"
    if not name.startswith(prefix) or len(name) == len(prefix):
        return None
    return name[len(prefix) :]


def _item_id(name: str, hashed_prefix: str) -> str:
    # Cosmos ids are at most 255 characters and may not hold '/', '\\', '?' or '#': a name
    # (an IUV may be any 255 characters) that is not plainly safe is stored under its hash.
    if _SAFE_ID.fullmatch(name):
        return name
    return hashed_prefix + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def position_id(pa_fiscal_code: str, iuv: str) -> str:
    """The id (and partition key) of a position: its IUPD, one logical partition each."""
    return _item_id(iupd(pa_fiscal_code, iuv), "ACA~")


def nav_claim_id(pa_fiscal_code: str, nav: str) -> str:
    """The id of the document that says which position holds a nav that is not ``"3" + iuv``
    (a nav names one notice of an EC, as IUPDs do)."""
    return _item_id(f"NAV_{pa_fiscal_code}_{nav}", "NAV~")


def legacy_position_id(pa_fiscal_code: str, nav: str) -> str:
    """Where positions were kept before they were named by IUPD (re-keyed by
    :meth:`~shared.notices.service.NoticeArchive.rekey`)."""
    return f"{pa_fiscal_code}:{nav}"


def segregation_code(iuv: str) -> str | None:
    """The segregation code of an IUV: its first two characters, when they are two digits."""
    code = iuv[:2]
    return code if len(code) == 2 and _digits(code) else None


def nav_segregation_code(nav: str) -> str | None:
    """The segregation code a notice number carries (aux digit 3: the two digits after it);
    None when it carries none (another aux digit, or no notice number at all)."""
    if not nav.startswith(AUX_DIGIT):
        return None
    code = nav[1:3]
    return code if len(code) == 2 and _digits(code) else None


def is_registry_id(fiscal_code: str) -> bool:
    """Whether ``fiscal_code`` could name a party of the registry at all."""
    return _PARTY_ID.fullmatch(fiscal_code) is not None


def _digits(value: str) -> bool:
    return all("0" <= c <= "9" for c in value)
