"""Token cards: Apple Pay and Google Pay transactions carry the hashed PAN of a token (a device
account number), not of the card the citizen enabled. An acquirer-side token list links each
token's hpan to its card's hpan: acquirers (and operators) submit pairs, stored one document per
token; the scorer resolves a transaction's hpan through it when no citizen ever enabled that
hpan itself. If the wallet's events carry token hashes later, they can feed the same documents.

Documents (container ``CASHBACK_CONTAINER``)::

    token   id <token hpan>, pk "token:<token hpan>"   the card hpan it stands for, who said so
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.cashback.documents import dump
from shared.cashback.store import CashbackStore
from shared.platform.values import SafeText

HPAN = r"^[0-9a-f]{64}$"
MAX_PAIRS = 10_000
_READERS = 16


def token_pk(token_hpan: str) -> str:
    return f"token:{token_hpan}"


class TokenPair(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    token_hpan: SafeText = Field(alias="tokenHpan", pattern=HPAN, description="The token's hpan")
    hpan: SafeText = Field(pattern=HPAN, description="The hpan of the card it stands for")


class TokenListIn(BaseModel):
    """Token hpans and the card hpans they stand for (Apple Pay, Google Pay)."""

    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenPair] = Field(min_length=1, max_length=MAX_PAIRS)


class TokensAccepted(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    stored: int = Field(description="Pairs new or changed")
    unchanged: int


class StoredToken(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    pk: str
    kind: str = "token"
    hpan: str = Field(description="The card's hpan")
    submitted_by: str = Field(alias="submittedBy")
    updated_at: datetime = Field(alias="updatedAt")


class Tokens:
    """The token list on the cashback store."""

    def __init__(self, store: CashbackStore) -> None:
        self._store = store

    async def submit(self, party_id: str, tokens: TokenListIn, *, now: datetime) -> TokensAccepted:
        """Store each pair (the latest submission of a token wins); how many changed."""
        limit = asyncio.Semaphore(_READERS)

        async def one(pair: TokenPair) -> bool:
            async with limit:
                return await self._put(party_id, pair, now)

        changed = await asyncio.gather(*(one(p) for p in _last_of_each(tokens.tokens)))
        return TokensAccepted(stored=sum(changed), unchanged=len(changed) - sum(changed))

    async def _put(self, party_id: str, pair: TokenPair, now: datetime) -> bool:
        pk = token_pk(pair.token_hpan)
        raw = await self._store.get(pk, pair.token_hpan)
        if raw is not None and raw.get("hpan") == pair.hpan:
            return False
        item = StoredToken(
            id=pair.token_hpan, pk=pk, hpan=pair.hpan, submitted_by=party_id, updated_at=now
        )
        await self._store.upsert(dump(item))  # the latest submission of a token wins
        return True

    async def cards(self, hpans: list[str]) -> dict[str, str]:
        """The card hpan of each of ``hpans`` that is a known token (others are left out)."""
        limit = asyncio.Semaphore(_READERS)

        async def one(hpan: str) -> tuple[str, str | None]:
            async with limit:
                raw = await self._store.get(token_pk(hpan), hpan)
            return hpan, (raw or {}).get("hpan")

        found = await asyncio.gather(*(one(h) for h in hpans))
        return {token: card for token, card in found if card}


def _last_of_each(pairs: list[TokenPair]) -> list[TokenPair]:
    latest = {p.token_hpan: p for p in pairs}
    return list(latest.values())
