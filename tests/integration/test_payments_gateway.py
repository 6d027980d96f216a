"""The charge client (shared/payments/gateway_client.py) against the gateway simulator's charge
API (local/psp/charges.py), over real HTTP: a contract opened by an onboarding, charges
idempotent by id, declines, lost answers, status queries, refunds and voided charge ids."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from local.devclock import DevClock
from local.psp.simulator import Simulator
from shared.payments.gateway_client import HttpChargeGateway
from shared.platform.clock import SystemClock

SECRET = "psp-test-secret"


class Secrets:
    async def secret_of(self, psp_id: str) -> str:
        return SECRET


@pytest.fixture
async def world() -> AsyncIterator[tuple[Simulator, HttpChargeGateway, str]]:
    simulator = Simulator(clock=DevClock(None), secret=SECRET, salt="salt")
    server = TestServer(simulator.app(), host="127.0.0.1", port=0)
    await server.start_server()
    session = aiohttp.ClientSession()
    base = f"http://127.0.0.1:{server.port}"
    client = HttpChargeGateway(
        lambda: session, base_url=base, secrets=Secrets(), clock=SystemClock(), timeout=2.0
    )
    simulator.charges.open_contract("C1", "gateway-card-1")
    try:
        yield simulator, client, base
    finally:
        await session.close()
        await server.close()


async def _behave(base: str, **behaviour: object) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/test/charges/behaviour", json=behaviour) as answer,
    ):
        assert answer.status == 200


async def test_a_charge_is_authorized_once_per_charge_id(
    world: tuple[Simulator, HttpChargeGateway, str],
) -> None:
    simulator, client, _ = world
    first = await client.charge(
        psp_id="P", charge_id="x1", contract_id="C1", amount=12650, description="TARI"
    )
    again = await client.charge(
        psp_id="P", charge_id="x1", contract_id="C1", amount=12650, description="TARI"
    )
    assert first.status == again.status == "AUTHORIZED"
    assert first.authorization_code == again.authorization_code
    assert len(simulator.charges.charges) == 1
    assert (await client.status(psp_id="P", charge_id="x1")).status == "AUTHORIZED"


async def test_an_unknown_contract_is_declined(
    world: tuple[Simulator, HttpChargeGateway, str],
) -> None:
    simulator, client, _ = world
    result = await client.charge(
        psp_id="P", charge_id="x2", contract_id="nope", amount=100, description="d"
    )
    assert result.status == "DECLINED"
    assert simulator.charges.charges == {}


async def test_a_declined_charge_holds_nothing(
    world: tuple[Simulator, HttpChargeGateway, str],
) -> None:
    simulator, client, base = world
    await _behave(base, next="DECLINED")
    result = await client.charge(
        psp_id="P", charge_id="x3", contract_id="C1", amount=100, description="d"
    )
    assert result.status == "DECLINED"
    assert simulator.charges.charges["x3"].status == "DECLINED"


async def test_a_lost_answer_is_unknown_and_the_status_query_tells(
    world: tuple[Simulator, HttpChargeGateway, str],
) -> None:
    _, client, base = world
    await _behave(base, loseAnswer=True)
    result = await client.charge(
        psp_id="P", charge_id="x4", contract_id="C1", amount=100, description="d"
    )
    assert result.status == "UNKNOWN"
    assert (await client.status(psp_id="P", charge_id="x4")).status == "AUTHORIZED"


async def test_a_slow_gateway_is_unknown(
    world: tuple[Simulator, HttpChargeGateway, str],
) -> None:
    _, client, base = world
    await _behave(base, delaySeconds=3)
    result = await client.charge(
        psp_id="P", charge_id="x5", contract_id="C1", amount=100, description="d"
    )
    assert result.status == "UNKNOWN"


async def test_refunds_and_voided_charge_ids(
    world: tuple[Simulator, HttpChargeGateway, str],
) -> None:
    _, client, _ = world
    await client.charge(psp_id="P", charge_id="x6", contract_id="C1", amount=100, description="d")
    assert (await client.refund(psp_id="P", charge_id="x6")).status == "REFUNDED"
    assert (await client.status(psp_id="P", charge_id="never")).status == "NOT_FOUND"
    assert (await client.refund(psp_id="P", charge_id="never")).status == "CANCELED"
    late = await client.charge(
        psp_id="P", charge_id="never", contract_id="C1", amount=100, description="d"
    )
    assert late.status == "CANCELED"


async def test_an_unsigned_request_is_refused(
    world: tuple[Simulator, HttpChargeGateway, str],
) -> None:
    _, _, base = world
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/contracts/C1/charges", json={"chargeId": "z", "amount": 1}) as answer,
    ):
        assert answer.status == 401
