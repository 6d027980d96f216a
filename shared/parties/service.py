"""Use cases of the party registry: register, rotate keys, authenticate, authorize."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from shared.parties.models import IssuedKey, Party, PartyIn, Role
from shared.parties.store import PartyStore
from shared.platform.errors import Forbidden, NotFound, Unauthorized

SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
SUBSCRIPTION_KEY_QUERY = "subscription-key"
"""Where pagoPA's API gateway also takes the key (its specs' ``apiKeyQuery``)."""


def key_hash(key: str) -> str:
    # Keys are 256-bit random values, so a plain hash cannot be brute-forced.
    return hashlib.sha256(key.encode()).hexdigest()


def party_item_id(party_id: str) -> str:
    return f"party:{party_id}"


def new_key() -> str:
    return secrets.token_urlsafe(32)


class PartyRegistry:
    """The registry, with a short in-process cache of authenticated keys."""

    def __init__(self, store: PartyStore, *, cache_seconds: float = 30.0) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, Party, datetime | None]] = {}
        self._cache_seconds = cache_seconds

    async def register(self, party: PartyIn, *, now: datetime) -> Party:
        """Create or update a party (its keys are untouched)."""
        existing = await self._store.get(party_item_id(party.party_id))
        created = existing["createdAt"] if existing else now
        stored = Party.model_validate(
            {**party.model_dump(by_alias=True), "createdAt": created, "updatedAt": now}
        )
        item = stored.model_dump(mode="json", by_alias=True)
        item.update(id=party_item_id(party.party_id), kind="party")
        await self._store.put(item)
        self._cache.clear()
        return stored

    async def get(self, party_id: str) -> Party:
        item = await self._store.get(party_item_id(party_id))
        if item is None:
            raise NotFound(f"no party {party_id}")
        return Party.model_validate(item)

    async def add_key(self, party_id: str, key: str, *, now: datetime) -> str:
        """Store ``key`` (only its hash) for ``party_id``; returns the key id."""
        await self.get(party_id)
        digest = key_hash(key)
        await self._store.put(
            {
                "id": f"key:{digest}",
                "kind": "key",
                "partyId": party_id,
                "createdAt": now.isoformat(),
                "expiresAt": None,
            }
        )
        return digest[:12]

    async def rotate_key(self, party_id: str, *, grace: timedelta, now: datetime) -> IssuedKey:
        """Issue a new key; the party's other keys stop working after ``grace``."""
        await self.get(party_id)
        expires = now + grace
        for item in await self._store.keys_of(party_id):
            current = item.get("expiresAt")
            if current is None or datetime.fromisoformat(current) > expires:
                await self._store.put({**_plain(item), "expiresAt": expires.isoformat()})
        key = new_key()
        key_id = await self.add_key(party_id, key, now=now)
        self._cache.clear()
        return IssuedKey(party_id=party_id, key=key, key_id=key_id, previous_keys_expire_at=expires)

    async def authenticate(
        self, key: str | None, *, now: datetime, roles: Iterable[Role] | None = None
    ) -> Party:
        """The party holding ``key``; Unauthorized if none, Forbidden if its role may not call."""
        if not key:
            raise Unauthorized(f"missing {SUBSCRIPTION_KEY_HEADER}")
        digest = key_hash(key)
        cached = self._cache.get(digest)
        if cached and cached[0] > time.monotonic():
            party, expires = cached[1], cached[2]
        else:
            item = await self._store.get(f"key:{digest}")
            if item is None:
                raise Unauthorized(f"unknown {SUBSCRIPTION_KEY_HEADER}")
            party = await self.get(item["partyId"])
            expires = datetime.fromisoformat(item["expiresAt"]) if item.get("expiresAt") else None
            self._cache[digest] = (time.monotonic() + self._cache_seconds, party, expires)
        if expires is not None and expires <= now:
            raise Unauthorized(f"{SUBSCRIPTION_KEY_HEADER} has expired")
        allowed = set(roles) if roles is not None else None
        if allowed is not None and party.role not in allowed:
            raise Forbidden(f"a {party.role} may not call this operation")
        return party


def authorize_for_ec(
    party: Party, ec_id: str, segregation_codes: Iterable[str | None] = ()
) -> None:
    """Raise Forbidden unless ``party`` may act for ``ec_id`` and on each segregation code.

    Pass the code of EVERY identifier the request touches (an IUV's, a notice number's): the
    object is named by one and authorized by another only if both are checked. ``None`` stands
    for an identifier that carries no code: only the EC itself, or a party acting for it on all
    codes, may act on that.
    """
    if party.role == "ec" and party.party_id == ec_id:
        return
    if ec_id not in party.acts_for:
        raise Forbidden(f"{party.party_id} may not act for {ec_id}")
    allowed = party.acts_for[ec_id]
    if not allowed:
        return
    codes = set(segregation_codes)
    if None in codes:
        raise Forbidden(
            f"{party.party_id} acts for {ec_id} on segregation codes {', '.join(allowed)} only, "
            "and this identifier carries none"
        )
    refused = sorted(code for code in codes if code is not None and code not in allowed)
    if refused:
        raise Forbidden(
            f"{party.party_id} may not act for {ec_id} on segregation codes {', '.join(refused)}"
        )


def _plain(item: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in item.items() if not k.startswith("_")}
