"""The back office's payments on in-memory ports: the EC's paid notices from its positions
index with who paid, when, the PSP and stand-in, filtered by the day paid in Europe/Rome, paged
by key; the CSV export with its documented columns; only the EC's users may read them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from shared.backoffice.payments import CSV_COLUMNS, BackOfficePayments
from shared.notices.ec_index_service import PositionsIndex
from shared.notices.models import PaidWith, Payer
from shared.parties.users import BackOfficeUsers, UserIn
from shared.platform.errors import DependencyError, Forbidden, Invalid, NotFound
from tests.fakes.notices import MemoryEcIndex, MemoryPositionSearch
from tests.unit.backoffice.test_backoffice import STRANGER, VIEWER
from tests.unit.notices.fakes import EC, OTHER_EC, World, iuv, nav, party, position

# 23:30 UTC on 9 December is 00:30 on 10 December in Rome
PAID = {
    1: (datetime(2026, 12, 8, 10, 0, tzinfo=UTC), "PSPA", False),
    2: (datetime(2026, 12, 9, 23, 30, tzinfo=UTC), "PSPB", True),
    3: (datetime(2026, 12, 10, 9, 0, tzinfo=UTC), "PSPA", False),
}

PAID_WITH = {
    # a stand-in payment: the PSP's outcome named the payer
    2: PaidWith(
        method="CP", fee=150, payer=Payer(fiscal_code="VRDGNN80A01H501X", full_name="Gianni Verdi")
    ),
    3: PaidWith(method="BBT", fee=0),
}


async def payments(registry: Any = None) -> tuple[BackOfficePayments, MemoryEcIndex]:
    world = await World().seed()
    for n in range(1, 5):
        await world.archive.publish(
            world.parties[EC],
            position(n, entityFullName="=HYPERLINK(1)") if n == 3 else position(n),
            segregation_codes=None,
            now=world.now,
        )
    for n, (at, psp, stand_in) in PAID.items():
        await world.archive.mark_paid(
            EC,
            nav(n),
            receipt_id=f"r{n}",
            paid_at=at,
            by=psp,
            stand_in=stand_in,
            now=at,
            paid_with=PAID_WITH.get(n),
        )
    store = MemoryEcIndex()
    await PositionsIndex(store, world.archive, MemoryPositionSearch(world.store)).rebuild(EC)
    users = BackOfficeUsers(world.party_store)
    await users.put(
        VIEWER.object_id, UserIn(name="V", ecs={EC: "viewer", OTHER_EC: "editor"}), now=world.now
    )
    await world.registry.register(party("PSPA", "psp", name="Banca Alfa"), now=world.now)
    return BackOfficePayments(users, store, registry or world.registry), store


class _DownRegistry:
    async def get(self, party_id: str) -> Any:
        raise DependencyError("cosmos", "the registry is down")


async def test_the_ecs_paid_notices_say_who_when_which_psp_and_stand_in() -> None:
    bo, _ = await payments()
    page = await bo.list(VIEWER, EC, paid_from=None, paid_to=None, cursor=None, page_size=10)
    assert [(r.iuv, r.psp, r.stand_in, r.receipt_id) for r in page.items] == [
        (iuv(1), "PSPA", False, "r1"),
        (iuv(2), "PSPB", True, "r2"),
        (iuv(3), "PSPA", False, "r3"),
    ]
    assert page.items[0].paid_at == "2026-12-08T10:00:00.000000Z"
    assert page.next_cursor is None


async def test_payments_are_filtered_by_the_day_paid_in_rome_and_paged_by_key() -> None:
    bo, store = await payments()
    tenth = await bo.list(
        VIEWER,
        EC,
        paid_from=date(2026, 12, 10),
        paid_to=date(2026, 12, 10),
        cursor=None,
        page_size=1,
    )
    assert [r.iuv for r in tenth.items] == [iuv(2)]
    assert tenth.next_cursor is not None
    rest = await bo.list(
        VIEWER,
        EC,
        paid_from=date(2026, 12, 10),
        paid_to=date(2026, 12, 10),
        cursor=tenth.next_cursor,
        page_size=1,
    )
    assert ([r.iuv for r in rest.items], rest.next_cursor) == ([iuv(3)], None)
    assert store.queries == 2
    with pytest.raises(Invalid):
        await bo.list(
            VIEWER,
            EC,
            paid_from=date(2026, 12, 11),
            paid_to=date(2026, 12, 10),
            cursor=None,
            page_size=1,
        )


async def test_the_export_is_csv_with_the_documented_columns() -> None:
    bo, _ = await payments()
    chunks = await bo.export(VIEWER, EC, paid_from=date(2026, 12, 9), paid_to=None)
    text = b"".join([c async for c in chunks]).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [name for name, _ in CSV_COLUMNS]
    assert [(r[1], r[5], r[8], r[9], r[10]) for r in rows[1:]] == [
        (iuv(2), "12050", "PSPB", "", "true"),  # not in the registry: the id alone
        (iuv(3), "12050", "PSPA", "Banca Alfa", "false"),
    ]
    assert [r[11:] for r in rows[1:]] == [
        ["CP", "150", "VRDGNN80A01H501X", "Gianni Verdi"],
        ["BBT", "0", "", ""],
    ]
    # a name a spreadsheet would run as a formula is exported as text
    assert rows[2][3] == "'=HYPERLINK(1)"


async def test_only_the_ecs_users_read_its_payments() -> None:
    bo, _ = await payments()
    with pytest.raises(Forbidden):
        await bo.list(STRANGER, EC, paid_from=None, paid_to=None, cursor=None, page_size=10)
    with pytest.raises(Forbidden):
        await bo.export(VIEWER, "12345678901", paid_from=None, paid_to=None)
    other = await bo.list(VIEWER, OTHER_EC, paid_from=None, paid_to=None, cursor=None, page_size=5)
    assert other.items == []


async def test_the_list_names_the_payer_the_method_and_the_fee_when_the_outcome_did() -> None:
    bo, _ = await payments()
    page = await bo.list(VIEWER, EC, paid_from=None, paid_to=None, cursor=None, page_size=10)
    assert [(r.method, r.fee, r.payer_fiscal_code, r.payer_name) for r in page.items] == [
        (None, None, None, None),  # paid before the archive kept how
        ("CP", 150, "VRDGNN80A01H501X", "Gianni Verdi"),
        ("BBT", 0, None, None),
    ]


async def test_the_list_names_the_psp_from_the_registry_and_its_id_alone_otherwise() -> None:
    bo, _ = await payments()
    page = await bo.list(VIEWER, EC, paid_from=None, paid_to=None, cursor=None, page_size=10)
    assert [(r.psp, r.psp_name) for r in page.items] == [
        ("PSPA", "Banca Alfa"),
        ("PSPB", None),
        ("PSPA", "Banca Alfa"),
    ]
    assert "Banca Alfa (PSPA)" in await _text(bo, iuv(1))


async def test_a_registry_that_is_down_leaves_the_psps_id_alone_and_never_fails_a_read() -> None:
    down, _ = await payments(_DownRegistry())
    page = await down.list(VIEWER, EC, paid_from=None, paid_to=None, cursor=None, page_size=10)
    assert [(r.psp, r.psp_name) for r in page.items] == [
        ("PSPA", None),
        ("PSPB", None),
        ("PSPA", None),
    ]
    chunks = await down.export(VIEWER, EC, paid_from=None, paid_to=None)
    rows = list(csv.reader(io.StringIO(b"".join([c async for c in chunks]).decode())))
    assert [(r[8], r[9]) for r in rows[1:]] == [("PSPA", ""), ("PSPB", ""), ("PSPA", "")]
    assert "PSPA (PSPA)" in await _text(down, iuv(1))


async def test_a_paid_notices_receipt_is_a_pdf_from_what_the_archive_holds() -> None:
    bo, _ = await payments()
    pdf = await bo.receipt_pdf(VIEWER, EC, iuv(2))
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert " ".join(nav(2)[i : i + 4] for i in range(0, 18, 4)) in text
    assert "120,50" in text
    assert "r2" in text
    # the payer, the method, the PSP and its fee (the total: amount plus fee)
    for shown in (
        "VRDGNN80A01H501X",
        "Gianni Verdi",
        "CP (carta / card)",
        "PSPB",
        "1,50",
        "122,00",
    ):
        assert shown in text, shown
    assert "n.d." in (await _text(bo, iuv(1)))  # paid with nothing said of how
    with pytest.raises(NotFound):
        await bo.receipt_pdf(VIEWER, EC, iuv(4))  # published, not paid
    with pytest.raises(Forbidden):
        await bo.receipt_pdf(STRANGER, EC, iuv(2))


async def _text(bo: BackOfficePayments, iuv_: str) -> str:
    pdf = await bo.receipt_pdf(VIEWER, EC, iuv_)
    return str(PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
