"""Small pieces every Cosmos adapter uses: error mapping (the container catalogue is
shared/platform/resources.py)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from shared.platform.errors import DependencyError
from shared.platform.guard import UNREACHABLE, guard

TRANSIENT_STATUS = {408, 429, 449, 500, 502, 503, 504}


def retry_after_seconds(error: CosmosHttpResponseError) -> float:
    headers = getattr(error, "headers", None) or {}
    raw = headers.get("x-ms-retry-after-ms")
    try:
        return max(1.0, float(raw) / 1000) if raw else 1.0
    except ValueError:
        return 1.0


def guarded(timeout: float, dependency: str = "cosmos") -> AbstractAsyncContextManager[None]:
    """Bound a Cosmos call by ``timeout`` and turn throttling and outages into DependencyError.

    Statuses that mean something to the caller (404, 409, 412) pass through unchanged.
    """

    def outage(error: Exception) -> DependencyError | None:
        if isinstance(error, CosmosHttpResponseError):
            if error.status_code not in TRANSIENT_STATUS:
                return None
            retry_after = retry_after_seconds(error)
            return DependencyError(
                dependency, f"status {error.status_code}", retry_after=retry_after
            )
        if isinstance(error, UNREACHABLE):
            return DependencyError(dependency, type(error).__name__)
        return None

    return guard(dependency, timeout, outage)


Document = dict[str, Any]


class StaleDocument(Exception):
    """A conditional write lost: the document changed since it was read (ETag), vanished, or
    was created meanwhile. Services reload and decide again."""


def body(document: Document) -> Document:
    """The document without Cosmos' system properties (``_etag``, ``_ts``, ...)."""
    return {k: v for k, v in document.items() if not k.startswith("_")}


async def create_new(container: ContainerProxy, document: Document, timeout: float) -> Document:
    """Create ``document``; StaleDocument if its id exists. Returns it as written."""
    try:
        async with guarded(timeout):
            written: Document = await container.create_item(body(document))
    except CosmosResourceExistsError:
        raise StaleDocument(document["id"]) from None
    return written


async def replace_unchanged(
    container: ContainerProxy, document: Document, timeout: float, etag: str | None = None
) -> Document:
    """Replace ``document`` if it is unchanged since read (``etag``, default its ``_etag``);
    StaleDocument if it changed or vanished. Returns it as written."""
    try:
        async with guarded(timeout):
            written: Document = await container.replace_item(
                document["id"],
                body(document),
                etag=etag or document["_etag"],
                match_condition=MatchConditions.IfNotModified,
            )
    except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
        raise StaleDocument(document["id"]) from None
    return written
