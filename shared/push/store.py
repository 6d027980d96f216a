"""The last change applied to each installation: one small Cosmos document per installation
(partition key ``/id``, so no partition grows), written with ETag concurrency.

It holds the desired installation (platform and device token, or a tombstone after a delete)
and the time the change was accepted. A change accepted earlier than the stored one is stale
and skipped, so a redelivered PUT never resurrects a deleted device; Notify reads the platform
from here to choose the payload format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)
from pydantic import BaseModel, ConfigDict, Field

from shared.platform.cosmos import guarded
from shared.platform.errors import Conflict, PreconditionFailed
from shared.push.models import Platform


class InstallationState(BaseModel):
    """As stored. ``deleted`` is a tombstone: it keeps ``applied_at`` after a delete."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    applied_at: datetime = Field(alias="appliedAt")
    deleted: bool = False
    platform: Platform | None = None
    push_channel: str | None = Field(default=None, alias="pushChannel")
    opted_out: list[str] = Field(
        default_factory=list,
        alias="optedOut",
        description="Topics of notifications the citizen does not want "
        "(shared/push/preferences.py); kept across installation changes.",
    )

    def __repr__(self) -> str:  # never the device token
        return (
            f"InstallationState({self.id!r}, applied_at={self.applied_at.isoformat()}, "
            f"deleted={self.deleted}, platform={self.platform})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class Versioned:
    state: InstallationState
    etag: str


class InstallationStates(Protocol):
    async def get(self, installation_id: str) -> Versioned | None: ...

    async def put(self, state: InstallationState, *, etag: str | None) -> str:
        """Create (``etag`` None) or replace if unchanged since ``etag``; the new ETag.

        Raises:
            Conflict: it was created meanwhile.
            PreconditionFailed: it changed since ``etag``.
        """
        ...


class CosmosInstallationStates:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, installation_id: str) -> Versioned | None:
        try:
            async with guarded(self._timeout):
                raw = await self._c.read_item(installation_id, partition_key=installation_id)
        except CosmosResourceNotFoundError:
            return None
        return Versioned(InstallationState.model_validate(raw), str(raw["_etag"]))

    async def put(self, state: InstallationState, *, etag: str | None) -> str:
        document = state.model_dump(mode="json", by_alias=True)
        try:
            async with guarded(self._timeout):
                if etag is None:
                    written: dict[str, Any] = await self._c.create_item(document)
                else:
                    written = await self._c.replace_item(
                        state.id, document, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
        except CosmosResourceExistsError:
            raise Conflict("the installation state was created meanwhile") from None
        except CosmosAccessConditionFailedError:
            raise PreconditionFailed("the installation state changed meanwhile") from None
        except CosmosResourceNotFoundError:  # replaced after someone removed it
            raise PreconditionFailed("the installation state changed meanwhile") from None
        return str(written["_etag"])
