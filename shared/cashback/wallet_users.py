"""Which enrolled citizen a wallet user id names: the link cashback keeps to follow the wallet.

The wallet names citizens only by their pseudonymous user id (:mod:`shared.auth.user_ids`);
cashback keeps its citizens by fiscal-code hash. When cashback acts for a citizen with the
wallet (enrollment, enabling an instrument) it computes the same user id from the citizen's
fiscal code and keeps one small document in the user id's own partition: ``{id: walletUser,
pk: <user id>, kind: walletUser, citizenId}``. A wallet event is then one point read away from
its citizen. Nothing in it is the fiscal code.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Protocol

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback.store import CashbackStore, StaleDocument, fixed_time

logger = logging.getLogger(__name__)

LINK_ID = "walletUser"


class UserIdOf(Protocol):
    async def of(self, fiscal_code: str) -> str:
        """The citizen's pseudonymous user id (:class:`shared.auth.user_ids.UserIds`)."""
        ...


class WalletUsers:
    def __init__(self, store: CashbackStore, user_ids: UserIdOf) -> None:
        self._store = store
        self._user_ids = user_ids

    async def link(self, fiscal_code: str, *, now: datetime) -> str:
        """Keep the link of the citizen's user id (once); the user id."""
        user_id = await self._user_ids.of(fiscal_code)
        if await self._store.get(user_id, LINK_ID) is None:
            link = {
                "id": LINK_ID,
                "pk": user_id,
                "kind": "walletUser",
                "citizenId": fiscal_code_hash(fiscal_code),
                "createdAt": fixed_time(now),
            }
            with contextlib.suppress(StaleDocument):  # linked concurrently: the same link
                await self._store.create(link)
        return user_id

    async def citizen_of(self, user_id: str) -> str | None:
        """The citizen id (fiscal-code hash) of ``user_id``; None if cashback never met them."""
        raw = await self._store.get(user_id, LINK_ID)
        citizen = raw.get("citizenId") if raw else None
        return citizen if isinstance(citizen, str) else None
