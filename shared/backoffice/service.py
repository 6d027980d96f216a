"""The back office's use cases: who the signed-in user is, and the EC's notices.

Every write goes through the archive's own service (:class:`~shared.notices.service.NoticeArchive`
``publish``) as the EC itself, so every rule and validation is the archive's: a field it refuses
comes back named, as the ACA routes answer it. The user's role for the EC is checked first:
a viewer reads, an editor reads and writes, anyone else gets 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.backoffice.models import BackOfficePosition, EcAccess, Me, PositionList
from shared.backoffice.principal import Principal
from shared.notices import rules
from shared.notices.events import WriteNote
from shared.notices.models import Position, PositionIn
from shared.notices.search import MAX_PAGE, PositionFilter, PositionSearch
from shared.notices.service import NoticeArchive
from shared.parties.users import BackOfficeUsers, User
from shared.platform.errors import Conflict, Forbidden, Invalid, NotFound


class BackOffice:
    def __init__(
        self, users: BackOfficeUsers, archive: NoticeArchive, search: PositionSearch
    ) -> None:
        self.users = users
        self._archive = archive
        self._search = search

    async def user(self, principal: Principal) -> User:
        """The registry's user for ``principal``; Forbidden (403) for a user it does not know:
        signed in to Entra ID, but not given access to any EC."""
        try:
            return await self.users.get(principal.object_id)
        except NotFound:
            raise Forbidden("you are signed in, but no EC has given you access") from None

    async def me(self, principal: Principal) -> Me:
        user = await self.user(principal)
        ecs = []
        for fiscal_code, role in sorted(user.ecs.items()):
            try:
                name = (await self._archive.ecs.get(fiscal_code)).name
            except NotFound:
                continue  # an EC removed from the registry since
            ecs.append(EcAccess(fiscal_code=fiscal_code, name=name, role=role))
        return Me(object_id=user.object_id, name=principal.name or user.name, ecs=ecs)

    async def search(
        self,
        principal: Principal,
        ec: str,
        where: PositionFilter,
        *,
        cursor: str | None,
        page_size: int,
        now: datetime,
    ) -> PositionList:
        (await self.user(principal)).role_for(ec)
        if not 1 <= page_size <= MAX_PAGE:
            raise Invalid(
                f"pageSize is 1 to {MAX_PAGE}",
                errors=[{"loc": ["query", "pageSize"], "type": "range", "msg": "1 to 100"}],
            )
        page = await self._search.search(ec, where, after=cursor, limit=page_size)
        items = [rules.as_position(d, now=now) for d in page.documents]
        return PositionList(items=items, next_cursor=page.next_after)

    async def detail(self, principal: Principal, ec: str, nav: str, *, now: datetime) -> Position:
        (await self.user(principal)).role_for(ec)
        return await self._archive.get(ec, nav, now=now)

    async def create(
        self,
        principal: Principal,
        ec: str,
        position: BackOfficePosition,
        *,
        now: datetime,
        from_: str | None = None,
    ) -> Position:
        """A new position; 409 naming ``iuv`` if the EC has one with that IUV already (the form
        creates: an edit is :meth:`edit`). Every write notes who asked and from where
        (``from_``) with the position, for the EC's journal."""
        (await self.user(principal)).may_edit(ec)
        _same_ec(ec, position)
        if rules.is_present(await self._archive.stored(ec, position.iuv)):
            raise Conflict(
                f"a position with IUV {position.iuv} exists already",
                errors=[{"loc": ["iuv"], "type": "iuv_taken", "msg": "already in use"}],
            )
        if position.amount == 0:
            raise Invalid(
                "a new position needs an amount",
                status=422,
                errors=[{"loc": ["amount"], "type": "greater_than", "msg": "more than 0 cents"}],
            )
        note = _note(principal, from_, "Creazione posizione", _sent(position))
        return await self._publish(ec, position, now=now, note=note)

    async def edit(
        self,
        principal: Principal,
        ec: str,
        nav: str,
        position: BackOfficePosition,
        *,
        now: datetime,
        from_: str | None = None,
    ) -> Position:
        """Change the position ``nav``: the archive's update (its rules decide what may change)."""
        (await self.user(principal)).may_edit(ec)
        _same_ec(ec, position)
        current = await self._archive.get(ec, nav, now=now)
        if position.iuv != current.iuv:
            raise Invalid(
                "the IUV of a position cannot change",
                status=422,
                errors=[{"loc": ["iuv"], "type": "iuv_changed", "msg": f"is {current.iuv}"}],
            )
        note = _note(principal, from_, "Modifica posizione", _sent(position))
        return await self._publish(ec, position, now=now, note=note)

    async def invalidate(
        self, principal: Principal, ec: str, nav: str, *, now: datetime, from_: str | None = None
    ) -> Position:
        """Invalidate the position ``nav``: the archive's write with amount 0."""
        (await self.user(principal)).may_edit(ec)
        current = await self._archive.get(ec, nav, now=now)
        zero = PositionIn.model_validate(
            {
                **current.model_dump(by_alias=True, include=_WRITABLE, exclude_none=True),
                "amount": 0,
            }
        )
        note = _note(principal, from_, "Annullamento posizione", {"amount": 0})
        return await self._publish(ec, zero, now=now, note=note)

    async def _publish(
        self, ec: str, position: PositionIn, *, now: datetime, note: WriteNote
    ) -> Position:
        party = await self._archive.ecs.get(ec)
        answer = await self._archive.publish(
            party, position, segregation_codes=None, now=now, note=note
        )
        return await self._archive.get(ec, answer.nav, now=now)


def _note(
    principal: Principal, from_: str | None, action: str, fields: dict[str, Any]
) -> WriteNote:
    name = principal.name[:200] if principal.name else None
    by = {"objectId": principal.object_id, "name": name, "from": from_}
    return WriteNote(by=by, action=action, fields=fields)


def _sent(position: BackOfficePosition) -> dict[str, Any]:
    """The fields a form sent, for the journal's write entry."""
    return position.model_dump(mode="json", by_alias=True, exclude_none=True)


_WRITABLE = {
    "pa_fiscal_code",
    "entity_type",
    "entity_fiscal_code",
    "entity_full_name",
    "iuv",
    "description",
    "expiration_date",
    "nav",
    "iban",
    "postal_iban",
    "switch_to_expired",
    "pay_stand_in",
}


def _same_ec(ec: str, position: PositionIn) -> None:
    if position.pa_fiscal_code != ec:
        raise Invalid(
            "the position belongs to another EC than the page's",
            status=422,
            errors=[{"loc": ["paFiscalCode"], "type": "other_ec", "msg": f"must be {ec}"}],
        )
