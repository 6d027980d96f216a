"""The back office's rules on in-memory ports: who the platform says is signed in, which EC and
role the registry gives the user, writes only through the archive, search paged by key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.backoffice.models import BackOfficePosition
from shared.backoffice.principal import (
    OBJECT_ID_CLAIM,
    Principal,
    encode_principal,
    read_principal,
)
from shared.backoffice.service import BackOffice
from shared.journal.events import JOURNAL_MESSAGE, SignedIn
from shared.journal.models import Who
from shared.journal.signin import sign_in_events
from shared.notices.search import PositionFilter
from shared.parties.users import BackOfficeUsers, UserIn
from shared.platform.errors import Conflict, Forbidden, Invalid, Unauthorized
from tests.fakes.notices import MemoryPositionSearch
from tests.unit.notices.fakes import EC, OTHER_EC, World, body, iuv, nav

EDITOR = Principal("0b0e0000-0000-4000-8000-0000000000a1", "Elena")
VIEWER = Principal("0b0e0000-0000-4000-8000-0000000000b2", "Marco")
STRANGER = Principal("0b0e0000-0000-4000-8000-0000000000c3", "Nobody")


def form(n: int = 1, **overrides: Any) -> BackOfficePosition:
    return BackOfficePosition.model_validate_json(json.dumps(body(n, **overrides)))


async def office() -> tuple[BackOffice, World]:
    world = await World().seed()
    users = BackOfficeUsers(world.party_store)
    await users.put(EDITOR.object_id, UserIn(name="E", ecs={EC: "editor"}), now=world.now)
    await users.put(
        VIEWER.object_id, UserIn(name="V", ecs={EC: "viewer", OTHER_EC: "editor"}), now=world.now
    )
    return BackOffice(users, world.archive, MemoryPositionSearch(world.store)), world


# ------------------------------------------------------------------ the principal
def test_the_platforms_principal_names_the_user() -> None:
    principal = read_principal(encode_principal(EDITOR.object_id, "Elena"), trusted=True)
    assert principal == EDITOR


def test_a_name_the_journal_could_not_store_is_kept_storable_and_journaled() -> None:
    """A display name with a NUL, a lone surrogate and 500 characters: the principal keeps a
    storable 200, and the sign-in it makes is a message the journal's consumer takes (it was
    refused there, to failed work, and the sign-in never recorded)."""
    raw = "Ele\x00na \ud800" + "x" * 500
    principal = read_principal(encode_principal(EDITOR.object_id, raw), trusted=True)
    assert principal.name is not None
    assert len(principal.name) == 200
    assert principal.name.startswith("Ele\ufffdna \ufffdx")
    [event] = sign_in_events(
        [EC],
        Who(object_id=principal.object_id, name=principal.name),
        session="s",
        from_=None,
        queue="journal",
        now=datetime(2026, 12, 7, tzinfo=UTC),
    )
    message = JOURNAL_MESSAGE.validate_json(event.outgoing().body)
    assert isinstance(message, SignedIn)
    who = message.entry().who
    assert who is not None
    assert who.name == principal.name


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "not base64!",
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(json.dumps({"claims": []}).encode()).decode(),
        base64.b64encode(
            json.dumps({"claims": [{"typ": OBJECT_ID_CLAIM, "val": "../party:DEMOPSP"}]}).encode()
        ).decode(),
    ],
)
def test_anything_but_a_principal_with_an_object_id_is_401(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        read_principal(header, trusted=True)


def test_without_the_platforms_authentication_a_principal_header_is_refused() -> None:
    with pytest.raises(Unauthorized):
        read_principal(encode_principal(EDITOR.object_id, "Elena"), trusted=False)


# ------------------------------------------------------------------ roles
async def test_an_editor_creates_edits_and_invalidates_through_the_archive() -> None:
    bo, world = await office()
    created = await bo.create(EDITOR, EC, form(1), now=world.now)
    assert (created.nav, created.status, created.amount) == (nav(1), "VALID", 12_050)
    edited = await bo.edit(EDITOR, EC, nav(1), form(1, amount=500), now=world.later())
    assert (edited.amount, [c.action for c in edited.history]) == (500, ["created", "updated"])
    gone = await bo.invalidate(EDITOR, EC, nav(1), now=world.later())
    assert gone.status == "INVALID"
    assert world.stored(EC, nav(1))["status"] == "INVALID"  # type: ignore[index]


async def test_a_viewer_reads_and_every_write_is_403() -> None:
    bo, world = await office()
    await bo.create(EDITOR, EC, form(1), now=world.now)
    assert (await bo.detail(VIEWER, EC, nav(1), now=world.now)).iuv == iuv(1)
    for write in (
        bo.create(VIEWER, EC, form(2), now=world.now),
        bo.edit(VIEWER, EC, nav(1), form(1, amount=1), now=world.now),
        bo.invalidate(VIEWER, EC, nav(1), now=world.now),
    ):
        with pytest.raises(Forbidden):
            await write
    assert world.stored(EC, nav(1))["amount"] == 12_050  # type: ignore[index]


async def test_a_user_acts_only_for_its_own_ecs() -> None:
    bo, world = await office()
    with pytest.raises(Forbidden):
        await bo.search(
            EDITOR, OTHER_EC, PositionFilter(), cursor=None, page_size=10, now=world.now
        )
    with pytest.raises(Forbidden):
        await bo.me(STRANGER)
    # a body naming another EC than the page's is refused, named
    with pytest.raises(Invalid) as refused:
        await bo.create(EDITOR, EC, form(3, paFiscalCode=OTHER_EC), now=world.now)
    assert refused.value.errors == [
        {"loc": ["paFiscalCode"], "type": "other_ec", "msg": f"must be {EC}"}
    ]


async def test_the_archives_rules_answer_per_field() -> None:
    bo, world = await office()
    with pytest.raises(Invalid) as refused:
        await bo.create(EDITOR, EC, form(1, iban="IT00X0542811101000000123456"), now=world.now)
    assert [e["loc"] for e in refused.value.errors or []] == [["iban"]]
    await bo.create(EDITOR, EC, form(1), now=world.now)
    with pytest.raises(Conflict):
        await bo.create(EDITOR, EC, form(1), now=world.now)
    with pytest.raises(Invalid) as moved:
        await bo.edit(EDITOR, EC, nav(1), form(2), now=world.now)
    assert [e["loc"] for e in moved.value.errors or []] == [["iuv"]]
    await bo.invalidate(EDITOR, EC, nav(1), now=world.later())
    with pytest.raises(Conflict):  # the archive's rule: an INVALID position is final for the EC
        await bo.edit(EDITOR, EC, nav(1), form(1), now=world.later())


async def test_search_pages_by_key_with_the_filters() -> None:
    bo, world = await office()
    for n in range(1, 6):
        await bo.create(EDITOR, EC, form(n, entityFiscalCode=f"DEBTOR{n % 2}"), now=world.now)
    seen, cursor = [], None
    while True:
        page = await bo.search(
            VIEWER, EC, PositionFilter(), cursor=cursor, page_size=2, now=world.now
        )
        seen += [p.iuv for p in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [iuv(n) for n in range(1, 6)]
    odd = await bo.search(
        VIEWER, EC, PositionFilter(debtor="DEBTOR1"), cursor=None, page_size=10, now=world.now
    )
    assert [p.iuv for p in odd.items] == [iuv(1), iuv(3), iuv(5)]
    # body()'s due date is 2027-01-31T23:00Z: 1 February in Rome
    feb = PositionFilter(due_from=date(2027, 2, 1), due_to=date(2027, 2, 1))
    assert (
        len((await bo.search(VIEWER, EC, feb, cursor=None, page_size=10, now=world.now)).items) == 5
    )
    jan = PositionFilter(due_to=date(2027, 1, 31))
    assert (await bo.search(VIEWER, EC, jan, cursor=None, page_size=10, now=world.now)).items == []
    with pytest.raises(Invalid):
        await bo.search(VIEWER, EC, PositionFilter(), cursor=None, page_size=0, now=world.now)


async def test_a_removed_user_is_refused_at_once() -> None:
    bo, world = await office()
    assert [ec.role for ec in (await bo.me(VIEWER)).ecs] == ["viewer", "editor"]
    await bo.users.remove(VIEWER.object_id)
    with pytest.raises(Forbidden):
        await bo.detail(VIEWER, EC, nav(1), now=world.now)
