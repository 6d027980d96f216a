"""Ordering and idempotency, property-based: whatever order the same writes are processed in
(one after another, or racing each other), the archive ends in the same state, and it is the
state of processing them in their order (arrival time, then line), under pagoPA's rules: 422 for
amount 0 on an absent position, 409 for any write to an INVALID one."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.notices import rules
from shared.platform.errors import Conflict, Invalid
from tests.unit.notices.fakes import EC, NOW, World, nav, position

CONTENT = ("amount", "description", "switchToExpired", "status", "version", "iban")

write_specs = st.lists(
    st.fixed_dictionaries(
        {
            "n": st.integers(1, 2),  # two notices, so writes to different ones interleave too
            "amount": st.sampled_from([0, 0, 100, 250]),
            "description": st.sampled_from(["TARI", "IMU"]),
            "switchToExpired": st.booleans(),
            "second": st.integers(0, 4),  # arrival times collide: the line breaks the tie
        }
    ),
    min_size=1,
    max_size=8,
)


def writes_of(specs: list[dict[str, Any]]) -> list[rules.Write]:
    writes = []
    for line, spec in enumerate(specs, start=1):
        at = NOW + timedelta(seconds=spec["second"])
        writes.append(
            rules.Write(
                position=position(
                    spec["n"],
                    amount=spec["amount"],
                    description=spec["description"],
                    switchToExpired=spec["switchToExpired"],
                ),
                key=rules.order_key(at, "bulk", line),
                by=EC,
                at=at,
                source=f"line {line}",
                company_name="Comune di Demo",
            )
        )
    return writes


async def _apply(world: World, write: rules.Write) -> None:
    # amount 0 for a position that is not there (422) and any write to an INVALID position
    # (409) are refused: part of the rules
    with contextlib.suppress(Invalid, Conflict):
        await world.archive.apply(write, assume_absent=write.position.amount > 0)


def state(world: World) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for n in (1, 2):
        document = world.stored(EC, nav(n))
        found[nav(n)] = (
            None if not rules.is_present(document) else {name: document[name] for name in CONTENT}
        )  # type: ignore[index]
    return found


async def run(writes: list[rules.Write], *, concurrently: bool) -> dict[str, Any]:
    world = await World().seed()
    if concurrently:
        await asyncio.gather(*(_apply(world, w) for w in writes))
    else:
        for write in writes:
            await _apply(world, write)
    return state(world)


@settings(max_examples=300, deadline=None)
@given(specs=write_specs, data=st.data())
def test_any_interleaving_of_the_same_writes_ends_in_the_same_state(
    specs: list[dict[str, Any]], data: st.DataObject
) -> None:
    writes = writes_of(specs)
    in_order = asyncio.run(run(sorted(writes, key=lambda w: w.key), concurrently=False))
    shuffled = data.draw(st.permutations(writes))
    assert asyncio.run(run(shuffled, concurrently=False)) == in_order
    assert asyncio.run(run(shuffled, concurrently=True)) == in_order
    # Delivering everything twice (a redelivered bulk) changes nothing either.
    assert asyncio.run(run([*shuffled, *writes], concurrently=False)) == in_order


def test_a_redelivered_write_is_not_applied_twice() -> None:
    async def scenario() -> None:
        world = await World().seed()
        [write] = writes_of(
            [{"n": 1, "amount": 100, "description": "TARI", "switchToExpired": False, "second": 0}]
        )
        assert (await world.archive.apply(write, assume_absent=True))[0] == "created"
        assert (await world.archive.apply(write, assume_absent=True))[0] == "unchanged"
        assert len(world.stored(EC, nav(1))["history"]) == 1  # type: ignore[index]

    asyncio.run(scenario())
