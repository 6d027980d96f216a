"""Who owes a notice: the debtor the archive names, so the receipt is the debtor's too.

The node's verify does not name the debtor; the notice archive does (ACA's ``entityFiscalCode``
and ``entityFullName``). A notice the archive does not hold (an EC that does not publish there)
has no known debtor: the payer stands for them on the receipt.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from shared.notices.models import Position
from shared.payments.receipt_model import Person
from shared.platform.errors import NotFound

logger = logging.getLogger(__name__)

__all__ = ["ArchiveDebtors"]


class Archive(Protocol):
    async def get(self, pa_fiscal_code: str, nav: str, *, now: datetime) -> Position: ...


class UserIdsOf(Protocol):
    async def of(self, fiscal_code: str) -> str: ...


class ArchiveDebtors:
    def __init__(self, archive: Archive, user_ids: UserIdsOf) -> None:
        self._archive = archive
        self._user_ids = user_ids

    async def debtor(
        self, ec_fiscal_code: str, notice_code: str, *, now: datetime
    ) -> Person | None:
        try:
            position = await self._archive.get(ec_fiscal_code, notice_code, now=now)
        except NotFound:
            return None
        code = position.entity_fiscal_code[:35]
        # A legal person is no app user: nobody to file the receipt under but the payer.
        user_id = await self._user_ids.of(code) if position.entity_type == "F" else None
        return Person(fiscal_code=code, full_name=position.entity_full_name[:140], user_id=user_id)
