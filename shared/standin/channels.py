"""PSPs' authentication as the node does it: ``idPSP``, ``idBrokerPSP``, ``idChannel`` and the
channel's ``password`` on every primitive.

The PSP and its broker are parties of the registry (the broker is the PSP itself, or a party
whose ``actsFor`` names the PSP); the channel, its broker, the PSPs it serves and its password
(scrypt, salted: passwords are short, so a plain hash could be brute-forced) are a document of
the stand-in container, written by an operator. A failure is a :class:`NodeRefusal` with SANP's
code; verified passwords are remembered for a minute, so scrypt is paid once per channel, not per
payment, and in a thread, not on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.pagopa import faults
from shared.pagopa.psp import PspRequest
from shared.parties.models import PARTY_ID, Party
from shared.platform.cosmos import Document
from shared.platform.errors import NotFound

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
CACHE_SIZE = 10_000


class NodeRefusal(Exception):
    """A primitive refused with one of the node's own codes (a KO, not an HTTP error)."""

    def __init__(self, code: str, description: str | None = None) -> None:
        super().__init__(description or code)
        self.code = code
        self.description = description


class Parties(Protocol):
    async def get(self, party_id: str) -> Party: ...


class ChannelStore(Protocol):
    async def get(self, key: tuple[str, str]) -> Document | None: ...

    async def upsert(self, document: Document) -> Document: ...


def channel_key(channel_id: str) -> tuple[str, str]:
    return f"channel:{channel_id}", f"channel:{channel_id}"


class ChannelIn(BaseModel):
    """An operator's channel (``PUT /api/ops/standin/channels/{idChannel}``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    broker_id: str = Field(alias="idBrokerPSP", min_length=1, max_length=35, pattern=PARTY_ID)
    psps: list[str] = Field(
        alias="idPSPs", min_length=1, max_length=100, description="The PSPs it may act for."
    )
    password: str = Field(min_length=8, max_length=15, repr=False)
    enabled: StrictBool = True


class ChannelOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    channel_id: str = Field(alias="idChannel")
    broker_id: str = Field(alias="idBrokerPSP")
    psps: list[str] = Field(alias="idPSPs")
    enabled: bool
    updated_at: datetime = Field(alias="updatedAt")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(stored: str, password: str) -> bool:
    scheme, salt, _digest = stored.split("$")
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(hash_password(password, salt=bytes.fromhex(salt)), stored)


class Channels:
    def __init__(
        self,
        store: ChannelStore,
        parties: Parties,
        *,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        check_password: Callable[[str, str], bool] = password_matches,
    ) -> None:
        """``check_password(stored_hash, password)``: :func:`password_matches` (run in a
        thread)."""
        self._store = store
        self._parties = parties
        self._check_password = check_password
        self._documents: TTLCache[str, Document | None, float] = TTLCache(
            CACHE_SIZE, ttl=ttl, timer=monotonic
        )
        self._parties_seen: TTLCache[str, Party | None, float] = TTLCache(
            CACHE_SIZE, ttl=ttl, timer=monotonic
        )
        self._verified: TTLCache[tuple[str, str, str], bool, float] = TTLCache(
            CACHE_SIZE, ttl=ttl, timer=monotonic
        )
        self._checking: dict[tuple[str, str, str], asyncio.Future[bool]] = {}

    async def put(self, channel_id: str, channel: ChannelIn, *, now: datetime) -> ChannelOut:
        key = channel_key(channel_id)
        document: dict[str, Any] = {
            "id": key[0],
            "pk": key[1],
            "kind": "channel",
            "channelId": channel_id,
            "brokerId": channel.broker_id,
            "psps": sorted(set(channel.psps)),
            "passwordHash": await asyncio.to_thread(hash_password, channel.password),
            "enabled": channel.enabled,
            "updatedAt": now.isoformat(),
        }
        await self._store.upsert(document)
        self._documents.pop(channel_id, None)
        return _out(document)

    async def get(self, channel_id: str) -> ChannelOut:
        document = await self._store.get(channel_key(channel_id))
        if document is None:
            raise NotFound(f"no channel {channel_id}")
        return _out(document)

    async def _party(self, party_id: str) -> Party | None:
        if party_id not in self._parties_seen:
            try:
                self._parties_seen[party_id] = await self._parties.get(party_id)
            except NotFound:
                self._parties_seen[party_id] = None
        return self._parties_seen[party_id]

    async def _channel(self, channel_id: str) -> Document | None:
        if channel_id not in self._documents:
            self._documents[channel_id] = await self._store.get(channel_key(channel_id))
        return self._documents[channel_id]

    async def authenticate(self, request: PspRequest) -> Party:
        """The PSP calling, once its broker, channel and password check out.

        Raises:
            NodeRefusal: PPT_PSP_SCONOSCIUTO, PPT_INTERMEDIARIO_PSP_SCONOSCIUTO,
                PPT_CANALE_SCONOSCIUTO, PPT_CANALE_DISABILITATO, PPT_AUTORIZZAZIONE (the channel
                is another broker's, or does not serve the PSP), PPT_AUTENTICAZIONE.
        """
        psp = await self._party(request.id_psp)
        if psp is None or psp.role != "psp":
            raise NodeRefusal(faults.PPT_PSP_SCONOSCIUTO)
        if request.id_broker_psp != request.id_psp:
            broker = await self._party(request.id_broker_psp)
            if broker is None or request.id_psp not in broker.acts_for:
                raise NodeRefusal(faults.PPT_INTERMEDIARIO_PSP_SCONOSCIUTO)
        channel = await self._channel(request.id_channel)
        if channel is None:
            raise NodeRefusal(faults.PPT_CANALE_SCONOSCIUTO)
        if not channel.get("enabled", False):
            raise NodeRefusal(faults.PPT_CANALE_DISABILITATO)
        if channel["brokerId"] != request.id_broker_psp or request.id_psp not in channel["psps"]:
            raise NodeRefusal(
                faults.PPT_AUTORIZZAZIONE,
                f"channel {request.id_channel} does not serve {request.id_psp} "
                f"through {request.id_broker_psp}",
            )
        if not await self._password_matches(request.id_channel, channel, request.password):
            raise NodeRefusal(faults.PPT_AUTENTICAZIONE)
        return psp

    async def _password_matches(self, channel_id: str, channel: Document, password: str) -> bool:
        # The digest names the password in the cache (never the password itself).
        seen = (channel_id, channel["passwordHash"], hashlib.sha256(password.encode()).hexdigest())
        known = self._verified.get(seen)
        if known is not None:
            return known
        # scrypt takes about 50 ms of CPU by design: in a thread, so the event loop serves the
        # other calls meanwhile, and once for all the calls that arrive while it runs (when the
        # cache expires, every PSP call of the channel would otherwise start its own).
        pending = self._checking.get(seen)
        if pending is None:
            pending = asyncio.ensure_future(
                asyncio.to_thread(self._check_password, channel["passwordHash"], password)
            )
            self._checking[seen] = pending
            pending.add_done_callback(lambda _: self._checking.pop(seen, None))
        matches = await asyncio.shield(pending)
        self._verified[seen] = matches
        return matches


def _out(document: Document) -> ChannelOut:
    return ChannelOut(
        channel_id=document["channelId"],
        broker_id=document["brokerId"],
        psps=document["psps"],
        enabled=document["enabled"],
        updated_at=document["updatedAt"],
    )
