"""Blob storage calls: one guard that bounds a call and maps outages to DependencyError."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from shared.platform.errors import DependencyError


@contextlib.asynccontextmanager
async def guarded_blob(timeout: float) -> AsyncIterator[None]:
    """Bound a Blob call by ``timeout``; throttling (408, 429), 5xx, timeouts and connection
    failures become DependencyError. Statuses that mean something to the caller (404 missing,
    409 exists, 412) pass through unchanged."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise DependencyError("blob", f"no answer within {timeout:g}s") from None
    except HttpResponseError as error:
        if error.status_code is not None and (
            error.status_code >= 500 or error.status_code in (408, 429)
        ):
            raise DependencyError("blob", f"status {error.status_code}") from error
        raise
    except (ServiceRequestError, ServiceResponseError, aiohttp.ClientError, OSError) as error:
        raise DependencyError("blob", type(error).__name__) from error
