"""Paper notices from the back office: one position's notice, or a search's results in one PDF.

The creditor block comes from the party registry (the EC's name and, when it has one, its
BancoPosta account: the notice then carries Poste's slip and data matrix); the rest from the
archive's positions. Only a VALID position is payable, so only VALID positions are printed.
A batch is rendered by a queue worker part by part (:meth:`NoticePrinter.parts`, driven by
:mod:`shared.backoffice.print_jobs`); rendering is CPU work, so it runs in a worker thread
(docs/backoffice.md, "Paper notices").
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import datetime

from pydantic import ValidationError

from shared.backoffice.principal import Principal
from shared.backoffice.service import BackOffice
from shared.documents.notice_pdf import (
    MAX_BATCH,
    PAGES_PER_PART,
    NoticeParts,
    PaperCreditor,
    PaperDebtor,
    PaperNotice,
    write_notices,
)
from shared.notices.models import Position
from shared.notices.search import MAX_PAGE, PositionFilter
from shared.notices.service import EcDirectory
from shared.parties.models import Party
from shared.platform.clock import ROME
from shared.platform.errors import Invalid


class NoticePrinter:
    """Prints through the back office's own reads (its role checks, its search), so a printed
    batch is exactly what the notices table shows for the same filters."""

    def __init__(self, office: BackOffice, ecs: EcDirectory) -> None:
        self._office = office
        self._ecs = ecs

    async def one(self, principal: Principal, ec: str, nav: str, *, now: datetime) -> bytes:
        """The paper notice of the position ``nav`` (viewers and editors); 422 unless VALID."""
        position = await self._office.detail(principal, ec, nav, now=now)
        if position.status != "VALID":
            raise Invalid(
                f"only a VALID position has a notice to pay (this one is {position.status})",
                status=422,
                errors=[{"loc": ["nav"], "type": "not_payable", "msg": position.status}],
            )
        creditor = paper_creditor(await self._ecs.get(ec))
        notice = printable(position, creditor)
        if isinstance(notice, str):
            raise Invalid(
                f"this position has no AgID paper notice: {notice}",
                status=422,
                errors=[{"loc": ["nav"], "type": "not_printable", "msg": notice}],
            )
        return await asyncio.to_thread(_render, [notice])

    async def check(
        self, principal: Principal, ec: str, where: PositionFilter, *, now: datetime
    ) -> int:
        """What a batch of the search's results would print: how many VALID positions (the
        request's checks, before a job is queued).

        Raises:
            Invalid: 422 when the search matches more than :data:`MAX_BATCH` positions (narrow
                it), or none of them is VALID.
        """
        positions = await self._matches(principal, ec, where, now=now)
        creditor = paper_creditor(await self._ecs.get(ec))
        # a VALID position the AgID notice cannot show (the ACA contract lets an EC choose a
        # nav that is not 18 digits) is left out, as the INVALID ones are
        payable = sum(
            1
            for p in positions
            if p.status == "VALID" and not isinstance(printable(p, creditor), str)
        )
        if not payable:
            raise _nothing_to_print()
        return payable

    async def parts(
        self, principal: Principal, ec: str, where: PositionFilter, *, now: datetime
    ) -> AsyncIterator[tuple[bytes, int]]:
        """The PDF of the search's VALID positions, one page each, as the pieces a part of
        :data:`PAGES_PER_PART` notices adds (the last piece closes the PDF): the search is read
        a page at a time and each part is rendered as soon as it is full, so memory is bounded
        by a search page and a part, not by the batch. Each piece comes with the pages written
        so far.

        Raises:
            Invalid: 422 when the search now holds more than :data:`MAX_BATCH` VALID positions,
                or none.
        """
        creditor = paper_creditor(await self._ecs.get(ec))
        pdf = await asyncio.to_thread(NoticeParts)
        waiting: list[PaperNotice] = []
        after: str | None = None
        while True:
            page = await self._office.search(
                principal, ec, where, cursor=after, page_size=MAX_PAGE, now=now
            )
            notices = [printable(p, creditor) for p in page.items if p.status == "VALID"]
            waiting.extend(n for n in notices if not isinstance(n, str))
            after = page.next_cursor
            while len(waiting) >= PAGES_PER_PART or (after is None and waiting):
                part, waiting = waiting[:PAGES_PER_PART], waiting[PAGES_PER_PART:]
                try:
                    yield await asyncio.to_thread(pdf.add, part), pdf.pages
                except ValueError:
                    raise _too_many() from None
            if after is None:
                break
        if pdf.pages == 0:
            raise _nothing_to_print()
        yield await asyncio.to_thread(pdf.close), pdf.pages

    async def _matches(
        self, principal: Principal, ec: str, where: PositionFilter, *, now: datetime
    ) -> list[Position]:
        found: list[Position] = []
        after: str | None = None
        while True:
            page = await self._office.search(
                principal, ec, where, cursor=after, page_size=MAX_PAGE, now=now
            )
            found.extend(page.items)
            if len(found) > MAX_BATCH:
                raise _too_many()
            after = page.next_cursor
            if after is None:
                return found


def _too_many() -> Invalid:
    return Invalid(
        f"the search matches more than {MAX_BATCH} positions: narrow it to print",
        status=422,
        errors=[{"loc": ["query"], "type": "too_many", "msg": f"at most {MAX_BATCH}"}],
    )


def _nothing_to_print() -> Invalid:
    return Invalid(
        "the search has no VALID position to print",
        status=422,
        errors=[{"loc": ["query"], "type": "nothing_to_print", "msg": "no VALID position"}],
    )


def paper_creditor(ec: Party) -> PaperCreditor:
    return PaperCreditor(
        fiscal_code=ec.party_id, name=ec.name[:140], postal_account=ec.postal_account
    )


def paper_notice(position: Position, creditor: PaperCreditor) -> PaperNotice:
    """The printed form of a VALID position: the due day is the Europe/Rome calendar day of
    its expiration (stored in UTC)."""
    return PaperNotice(
        notice_code=position.nav,
        creditor=creditor,
        debtor=PaperDebtor(
            fiscal_code=position.entity_fiscal_code[:35],
            full_name=position.entity_full_name[:70],
        ),
        amount=position.amount,
        due_date=position.expiration_date.astimezone(ROME).date(),
        subject=position.description[:140],
    )


def printable(position: Position, creditor: PaperCreditor) -> PaperNotice | str:
    """The paper notice of ``position``, or why the AgID layout cannot show it (a notice code
    that is not 18 digits, an amount past the notice's 10 digits of euros)."""
    try:
        return paper_notice(position, creditor)
    except ValidationError as error:
        first = error.errors()[0]
        return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"


def _render(notices: list[PaperNotice]) -> bytes:
    out = io.BytesIO()
    write_notices(notices, out)
    return out.getvalue()
