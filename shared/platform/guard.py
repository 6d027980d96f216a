"""The one guard around a call to a dependency: bounded in time, its outages as DependencyError.

Each adapter says which of its SDK's exceptions mean "throttling or down" (an :data:`Outage`
mapping); anything it does not map (a 404, a 409, a 412 that means something to the caller)
passes through unchanged. :func:`~shared.platform.cosmos.guarded`,
:func:`~shared.platform.messaging.guarded_bus` and :func:`~shared.platform.storage.guarded_blob`
are this guard with their dependency's mapping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp
from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from shared.platform.errors import DependencyError

Outage = Callable[[Exception], DependencyError | None]
"""The DependencyError an exception of the call means, or None: let it through."""

#: What an Azure SDK on aiohttp raises when it could not reach the service or lost the answer.
UNREACHABLE = (ServiceRequestError, ServiceResponseError, aiohttp.ClientError, OSError)


@contextlib.asynccontextmanager
async def guard(dependency: str, timeout: float, outage: Outage) -> AsyncIterator[None]:
    """Bound the block by ``timeout`` and raise what ``outage`` maps its exceptions to."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise DependencyError(dependency, f"no answer within {timeout:g}s") from None
    except Exception as error:
        mapped = outage(error)
        if mapped is None:
            raise
        raise mapped from error
