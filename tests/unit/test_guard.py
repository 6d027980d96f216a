"""The dependency guard (shared/platform/guard.py) with each adapter's mapping of outages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.servicebus.exceptions import ServiceBusConnectionError

from shared.platform.cosmos import guarded
from shared.platform.errors import DependencyError
from shared.platform.messaging import guarded_bus
from shared.platform.storage import guarded_blob

Guard = Callable[[float], AbstractAsyncContextManager[None]]


def cosmos_error(status: int, retry_after_ms: str | None = None) -> CosmosHttpResponseError:
    error = CosmosHttpResponseError(status_code=status, message="refused")
    error.headers = {"x-ms-retry-after-ms": retry_after_ms} if retry_after_ms else {}
    return error


def blob_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message="refused")
    error.status_code = status
    return error


async def raised_in(guard: Guard, error: BaseException) -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the test asserts what it became
        async with guard(1.0):
            raise error
    return caught.value


@pytest.mark.parametrize(
    ("guard", "dependency"),
    [(guarded, "cosmos"), (guarded_bus, "servicebus"), (guarded_blob, "blob")],
)
async def test_a_call_past_its_timeout_is_a_dependency_error(guard: Guard, dependency: str) -> None:
    with pytest.raises(DependencyError, match=r"no answer within 0\.01s") as caught:
        async with guard(0.01):
            await asyncio.sleep(1)
    assert caught.value.dependency == dependency


async def test_cosmos_throttling_carries_its_retry_after() -> None:
    error = await raised_in(guarded, cosmos_error(429, "2500"))
    assert isinstance(error, DependencyError)
    assert (error.dependency, error.detail, error.retry_after) == ("cosmos", "status 429", 2.5)


@pytest.mark.parametrize("status", [404, 409, 412])
async def test_cosmos_statuses_that_mean_something_pass_through(status: int) -> None:
    error = await raised_in(guarded, cosmos_error(status))
    assert isinstance(error, CosmosHttpResponseError)
    assert error.status_code == status


@pytest.mark.parametrize(("guard", "dependency"), [(guarded, "cosmos"), (guarded_blob, "blob")])
async def test_unreachable_services_are_dependency_errors(guard: Guard, dependency: str) -> None:
    error = await raised_in(guard, aiohttp.ClientConnectionError("reset"))
    assert isinstance(error, DependencyError)
    assert (error.dependency, error.detail) == (dependency, "ClientConnectionError")


@pytest.mark.parametrize(
    ("status", "outage"), [(503, True), (429, True), (408, True), (404, False)]
)
async def test_blob_statuses(status: int, outage: bool) -> None:
    error = await raised_in(guarded_blob, blob_error(status))
    assert isinstance(error, DependencyError) is outage


async def test_service_bus_errors_are_dependency_errors_and_others_pass() -> None:
    error = await raised_in(guarded_bus, ServiceBusConnectionError(message="down"))
    assert isinstance(error, DependencyError)
    assert error.dependency == "servicebus"
    assert isinstance(await raised_in(guarded_bus, ValueError("a bug")), ValueError)
