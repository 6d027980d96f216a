"""Types and configuration shared by the settings' classes: the field-to-setting naming,
timer schedules (NCRONTAB) and comma-separated party ids."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, AliasGenerator, BeforeValidator
from pydantic_settings import NoDecode, SettingsConfigDict

# A field's setting is its name in capitals (``cosmos_endpoint`` -> ``COSMOS_ENDPOINT``); only
# names fixed by someone else (the Functions host, an SDK, the infra) are spelled out.
SETTINGS_CONFIG = SettingsConfigDict(
    case_sensitive=True,
    extra="ignore",
    frozen=True,
    alias_generator=AliasGenerator(validation_alias=str.upper),
)

_NCRONTAB_FIELD = re.compile(r"[0-9A-Za-z*/,-]+")


def six_field_ncrontab(value: str) -> str:
    """six NCRONTAB fields: second minute hour day month day-of-week.

    Only the shape is checked (the Functions host parses the rest): a five-field Unix cron, the
    usual mistake, is refused here rather than by the host at start-up.
    """
    fields = value.split()
    if len(fields) != 6:
        raise ValueError(
            "an NCRONTAB schedule has six fields (second minute hour day month day-of-week), "
            f"not {len(fields)}: {value!r}"
        )
    for part in fields:
        if not _NCRONTAB_FIELD.fullmatch(part):
            raise ValueError(f"{part!r} is not an NCRONTAB field (in {value!r})")
    return value


Ncrontab = Annotated[str, AfterValidator(six_field_ncrontab)]
"""A timer schedule, bound by triggers as ``schedule="%NAME_SCHEDULE%"``."""

# The party registry's id shape (shared/parties/models.py PARTY_ID), repeated here because the
# platform may not import the registry: an id no party can have is a typo, refused at start-up.
_PARTY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")] if value.strip() else []
    return value


def party_ids(value: frozenset[str]) -> frozenset[str]:
    """comma-separated party ids (empty: none).

    An empty item (``A,,B``, a trailing comma) is refused rather than skipped: it is more
    likely a lost id than a wish.
    """
    for item in value:
        if not _PARTY_ID.fullmatch(item):
            raise ValueError(f"{item!r} is not a party id (letters, digits, '.', '_', '-')")
    return value


PartyIds = Annotated[
    frozenset[str], NoDecode, BeforeValidator(_split_commas), AfterValidator(party_ids)
]
"""A set of party ids written as one comma-separated setting (``A_01,B_02``)."""
