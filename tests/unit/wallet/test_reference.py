"""Wallet ids: opaque to everyone but the app, and they name their owner to it alone."""

from __future__ import annotations

import re
import string

import pytest

from shared.platform.errors import ConfigurationError
from shared.wallet.instruments import new_order_id
from shared.wallet.models import ORDER_ID
from shared.wallet.reference import is_wallet_id
from tests.unit.wallet.fakes import CF as FISCAL_CODE
from tests.unit.wallet.fakes import OTHER_CF, REFERENCE_KEY, uid, wallet_ids

CF = uid(FISCAL_CODE)  # ids carry the owner's user id
OTHER = uid(OTHER_CF)


async def test_an_id_names_its_owner_and_says_nothing_to_anyone_else() -> None:
    ids = wallet_ids()
    first, second = await ids.new(CF), await ids.new(CF)
    assert first != second
    assert is_wallet_id(first)
    assert len(first) == 81
    assert FISCAL_CODE not in first
    assert CF not in first
    assert CF.lower() not in first.lower()
    assert first[1:30] != second[1:30]  # two ids of one citizen share nothing
    assert await ids.owner(first) == CF
    assert await ids.owner(await ids.new(OTHER)) == OTHER


async def test_a_changed_or_foreign_id_names_nobody() -> None:
    ids = wallet_ids()
    wallet_id = await ids.new(CF)
    for position in (1, 20, 40, 80):
        changed = "A" if wallet_id[position] != "A" else "B"
        tampered = wallet_id[:position] + changed + wallet_id[position + 1 :]
        assert await ids.owner(tampered) is None
    other_key = wallet_ids("another-deployment-key-0123456789abcdef")
    assert await ids.owner(await other_key.new(CF)) is None
    for junk in (
        "",
        "w",
        "3f1d1c9e-8a6b-4c2d-9e7f-0a1b2c3d4e5f",
        "w" + "=" * 80,
        "x" + wallet_id[1:],
        wallet_id + "A",
    ):
        assert await ids.owner(junk) is None


async def test_a_rotated_key_still_reads_the_ids_it_made() -> None:
    old = wallet_ids()
    made_before = await old.new(CF)
    rotated = wallet_ids("a-new-key-for-wallet-ids-0123456789abcdef," + REFERENCE_KEY)
    made_after = await rotated.new(CF)
    assert await rotated.owner(made_before) == CF
    assert await rotated.owner(made_after) == CF
    assert await old.owner(made_after) is None  # new ids use the new key


async def test_a_short_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        await wallet_ids("short").new(CF)


def test_order_ids_are_18_characters_of_the_alphabet_and_do_not_repeat() -> None:
    drawn = [new_order_id() for _ in range(2_000)]
    assert all(re.fullmatch(ORDER_ID, order_id) for order_id in drawn)
    assert len(set(drawn)) == len(drawn)
    assert set("".join(drawn)) == set(string.ascii_uppercase + string.digits)
