"""Back-office users in the party registry: who (an Entra ID object id) may do what for which EC.

A user is one item ``user:<objectId>`` of the registry's container (partition key ``/id``), so
finding a signed-in user's ECs and roles is one point read. Operators put and remove users
through ``/api/ops/bo-users`` (docs/backoffice.md); nothing else writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.errors import Forbidden, NotFound

BackOfficeRole = Literal["viewer", "editor"]
OBJECT_ID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""An Entra ID object id (a GUID), as the ``objectidentifier`` claim carries it."""
MAX_ECS = 200


class UserStore(Protocol):
    async def get(self, item_id: str) -> dict[str, object] | None: ...
    async def put(self, item: dict[str, object]) -> None: ...
    async def delete(self, item_id: str) -> None: ...


class UserIn(BaseModel):
    """What an operator sends to add or change a back-office user."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=200, description="Shown in the page.")
    ecs: dict[str, BackOfficeRole] = Field(
        max_length=MAX_ECS,
        description="EC fiscal code (11 digits) -> the user's role for it: viewer (reads) or "
        "editor (reads and writes).",
    )


class User(UserIn):
    """A back-office user as stored and returned."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    object_id: str = Field(alias="objectId", description="The Entra ID object id.")
    updated_at: datetime = Field(alias="updatedAt")

    def role_for(self, ec: str) -> BackOfficeRole:
        """The user's role for ``ec``; Forbidden if the user has none there."""
        role = self.ecs.get(ec)
        if role is None:
            raise Forbidden(f"you may not act for {ec}")
        return role

    def may_edit(self, ec: str) -> None:
        """Forbidden unless the user is an editor of ``ec``."""
        if self.role_for(ec) != "editor":
            raise Forbidden(f"you may read the notices of {ec}, not change them")


def user_item_id(object_id: str) -> str:
    return f"user:{object_id.lower()}"


class BackOfficeUsers:
    """The users of the back office, in the party registry's store."""

    def __init__(self, store: UserStore) -> None:
        self._store = store

    async def put(self, object_id: str, user: UserIn, *, now: datetime) -> User:
        stored = User.model_validate(
            {**user.model_dump(by_alias=True), "objectId": object_id.lower(), "updatedAt": now}
        )
        item: dict[str, object] = stored.model_dump(mode="json", by_alias=True)
        item.update(id=user_item_id(object_id), kind="user")
        await self._store.put(item)
        return stored

    async def get(self, object_id: str) -> User:
        item = await self._store.get(user_item_id(object_id))
        if item is None:
            raise NotFound(f"no back-office user {object_id}")
        return User.model_validate(item)

    async def remove(self, object_id: str) -> None:
        """Remove the user (nothing if there is none): its next request is refused (403)."""
        await self._store.delete(user_item_id(object_id))
