"""The event journal in the back office: its search and CSV export under /api/bo/v1 (any
signed-in user of the EC, viewers too), the queue consumer that records the archive's events,
and what the back office's own routes record (sign-ins, writes) (docs/journal.md)."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import logging
import re
from datetime import date, timedelta
from typing import Any

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, Reply, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.backoffice.models import Me
from shared.backoffice.principal import PRINCIPAL_HEADER
from shared.journal.models import KINDS, Entry, EntryPage, Who
from shared.journal.service import ROME, JournalFilter, checked_kind
from shared.journal.signin import sign_in_events
from shared.platform.errors import DependencyError, Invalid
from shared.platform.queue_work import Delivery

logger = logging.getLogger(__name__)
bp = func.Blueprint()

JOURNAL = "bo/v1/journal"
TAGS = ("back office",)
_EC = re.compile(r"[0-9]{11}")
_OBJECT = re.compile(r"[A-Za-z0-9_.-]{1,35}")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,400}")
DEFAULT_DAYS = 30
_QUERY = {
    "ec": "the EC's fiscal code (11 digits)",
    "from": f"first day (YYYY-MM-DD, Europe/Rome), included; default {DEFAULT_DAYS} days ago",
    "to": "last day (YYYY-MM-DD, Europe/Rome), included; default today",
    "kind": "one of " + ", ".join(KINDS),
    "object": "the object, exactly (a notice code, an upload id, a station id)",
}
_PAGED = {**_QUERY, "pageSize": "1 to 100 (default 50)", "cursor": "nextCursor of a page"}


def _invalid(name: str, message: str) -> Invalid:
    return Invalid(message, errors=[{"loc": ["query", name], "type": "value", "msg": message}])


def _day(call: Call[Any], name: str, default: date) -> date:
    value = call.request.params.get(name)
    if not value:
        return default
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2099:
        raise _invalid(name, f"{name} is a day, YYYY-MM-DD, from 2000 to 2099")
    return day


async def _search(call: Call[Any]) -> tuple[str, JournalFilter]:
    """The EC and filter of the request, once the user is known to act for that EC."""
    ec = call.request.params.get("ec") or ""
    if not _EC.fullmatch(ec):
        raise _invalid("ec", "ec is an EC's fiscal code, 11 digits")
    (await call.root.backoffice().user(call.user)).role_for(ec)
    today = call.now.astimezone(ROME).date()
    object_ = call.request.params.get("object") or None
    if object_ is not None and not _OBJECT.fullmatch(object_):
        raise _invalid("object", "object is up to 35 letters, digits, _ . -")
    where = JournalFilter(
        since=_day(call, "from", today - timedelta(days=DEFAULT_DAYS)),
        until=_day(call, "to", today),
        kind=checked_kind(call.request.params.get("kind") or None),
        object_=object_,
    )
    return ec, where


@endpoint(
    bp,
    JOURNAL,
    "GET",
    auth="backoffice",
    returns=EntryPage,
    errors=(400, 403),
    query=_PAGED,
    tags=TAGS,
    summary="Search the EC's event journal by date range, kind and object, newest first, paged",
)
async def bo_journal(call: Call[BaseModel]) -> EntryPage:
    ec, where = await _search(call)
    raw_size = call.request.params.get("pageSize") or "50"
    if not re.fullmatch(r"[0-9]{1,3}", raw_size) or not 1 <= int(raw_size) <= 100:
        raise _invalid("pageSize", "pageSize is a whole number from 1 to 100")
    cursor = call.request.params.get("cursor") or None
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise _invalid("cursor", "cursor is the nextCursor of a previous page")
    return await call.root.journal.search(ec, where, cursor=cursor, limit=int(raw_size))


CSV_COLUMNS = ("id", "at", "ec", "kind", "object", "whoObjectId", "whoName", "from", "summary")


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with these as a formula (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_row(entry: Entry) -> list[str]:
    who = entry.who
    values = [
        entry.id,
        entry.at.isoformat(),
        entry.ec,
        entry.kind,
        entry.object or "",
        who.object_id if who else "",
        (who.name or "") if who else "",
        entry.from_ or "",
        entry.summary,
        json.dumps(entry.fields, ensure_ascii=False, sort_keys=True),
    ]
    return [_cell(v) for v in values]


@endpoint(
    bp,
    JOURNAL + ".csv",
    "GET",
    auth="backoffice",
    produces="text/csv",
    errors=(400, 403),
    query=_QUERY,
    tags=TAGS,
    summary="The EC's event journal matching a search, as CSV (every page, newest first)",
)
async def bo_journal_csv(call: Call[BaseModel]) -> Reply:
    ec, where = await _search(call)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*CSV_COLUMNS, "fields"])
    async for entry in call.root.journal.every(ec, where):
        writer.writerow(csv_row(entry))
    name = f"giornale-{ec}-{where.since.isoformat()}-{where.until.isoformat()}.csv"
    return Reply(
        200,
        content=out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@queue_trigger(bp, "JOURNAL_QUEUE")
async def journal_notice_events(delivery: Delivery) -> None:
    """The journal's events (shared/journal/events.py): one entry each (a redelivery
    writes nothing)."""
    await get_root().journal.take_event(delivery.body)


# ------------------------------------------------------------ what the back office records
def client_ip(request: func.HttpRequest) -> str | None:
    """The caller's address as App Service passes it (``X-Client-IP``, else the first hop of
    ``X-Forwarded-For``, whose entries may carry a port); None if neither names an address."""
    raw = (
        request.headers.get("X-Client-IP")
        or (request.headers.get("X-Forwarded-For") or "").split(",")[0]
    )
    # A zone (``fe80::1%eth0``) names an interface of the sender's host: nothing here, and of
    # any length a client likes (the journal's ``from`` holds 64 characters).
    raw = raw.strip()
    if raw.startswith("[") and "]" in raw:  # [v6]:port
        raw = raw[1 : raw.index("]")]
    elif raw.count(":") == 1:  # v4:port
        raw = raw.split(":")[0]
    try:
        return str(ipaddress.ip_address(raw.split("%", 1)[0]))
    except ValueError:
        return None


def who(call: Call[Any]) -> Who:
    return Who(object_id=call.user.object_id, name=call.user.name)


async def note_sign_in(call: Call[Any], me: Me) -> None:
    """Tell the journal of each of the user's ECs that it signed in: events on the journal's
    queue, the same ids for every request of one platform session (the principal header), so
    the page's every load re-sends them and the journal keeps one entry each. The answer does
    not wait on the journal's store; a broker that is down loses this request's events (logged),
    and the next load of the page in the same session sends them again."""
    queue = call.root.settings.journal_queue
    events = sign_in_events(
        [ec.fiscal_code for ec in me.ecs],
        who(call),
        session=call.request.headers.get(PRINCIPAL_HEADER) or "",
        from_=client_ip(call.request),
        queue=queue,
        now=call.now,
    )
    if not events:
        return
    try:
        await call.root.sender.send(queue, [e.outgoing() for e in events])
    except DependencyError as error:
        logger.warning("sign-in not sent to the journal (%s): %s", error.dependency, error.detail)
