"""Acquirers' transaction files (docs/cashback-files.md): the HTTPS upload and what became of a
file, the blob-created events that start processing, and what acquirers filter with (salt,
hashed-PAN list, the platform's PGP public key)."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, Reply, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.cashback.acquirer_lists import PublicKey, Salt, salt
from shared.cashback.delivery import MAX_UPLOAD_BYTES, FileDelivered, FileState
from shared.platform.errors import PayloadTooLarge
from shared.platform.queue_work import Delivery

bp = func.Blueprint()

FILES = "v1/cashback/files"
ACQUIRERS = "v1/cashback/acquirers"


@endpoint(
    bp,
    FILES + "/{name}",
    "PUT",
    auth="party",
    roles=("acquirer",),
    upload="application/octet-stream",
    returns=FileDelivered,
    status=202,
    errors=(403, 409),
    max_body=MAX_UPLOAD_BYTES,
    tags=("cashback files",),
    summary="Deliver a transaction file (CSTAR.<ABI>.TRNLOG.<yyyymmdd>.<hhmmss>.<nnn>.csv.pgp, "
    "encrypted to the platform's key), as SFTP does; it is processed asynchronously",
)
async def cashback_file_upload(call: Call[BaseModel]) -> FileDelivered:
    data = call.raw_body
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"more than {MAX_UPLOAD_BYTES} bytes: deliver it by SFTP")
    return await call.root.cashback_files.uploads.upload(
        call.the_party, call.param("name"), data, now=call.now
    )


@endpoint(
    bp,
    FILES + "/{name}",
    "GET",
    auth="party",
    roles=("acquirer",),
    returns=FileState,
    errors=(403, 404),
    tags=("cashback files",),
    summary="What became of a delivered file: its status and counts",
)
async def cashback_file_state(call: Call[BaseModel]) -> FileState:
    return await call.root.cashback_files.uploads.state(call.the_party, call.param("name"))


@endpoint(
    bp,
    FILES + "/{name}/report",
    "GET",
    auth="party",
    roles=("acquirer",),
    status=302,
    errors=(403, 404),
    tags=("cashback files",),
    summary="Redirects to the file's report (CSV line;reason;detail of every rejected line)",
)
async def cashback_file_report(call: Call[BaseModel]) -> Reply:
    url = await call.root.cashback_files.uploads.report_url(
        call.the_party, call.param("name"), now=call.now
    )
    return Reply(302, headers={"Location": url})


@endpoint(
    bp,
    ACQUIRERS + "/salt",
    "GET",
    auth="party",
    roles=("acquirer",),
    returns=Salt,
    tags=("cashback files",),
    summary="The salt acquirers hash PANs with: SHA-256(PAN + salt)",
)
async def cashback_acquirer_salt(call: Call[BaseModel]) -> Salt:
    return salt(call.root.settings.cashback_hpan_salt)


@endpoint(
    bp,
    ACQUIRERS + "/hashed-pans",
    "GET",
    auth="party",
    roles=("acquirer",),
    status=302,
    tags=("cashback files",),
    summary="Redirects to the list of hashed PANs enabled for cashback (a zip of one CSV; "
    "its SHA-256 in the x-ms-meta-sha256 header of the download)",
)
async def cashback_acquirer_hpans(call: Call[BaseModel]) -> Reply:
    url = await call.root.cashback_files.hpan_list.download_url(now=call.now)
    return Reply(302, headers={"Location": url})


@endpoint(
    bp,
    ACQUIRERS + "/pgp-public-key",
    "GET",
    auth="party",
    roles=("acquirer",),
    returns=PublicKey,
    tags=("cashback files",),
    summary="The platform's PGP public key: acquirers encrypt their files to it",
)
async def cashback_acquirer_public_key(call: Call[BaseModel]) -> PublicKey:
    return PublicKey(public_key=await call.root.cashback_files.gnupg.public_key())


@queue_trigger(bp, "CASHBACK_FILES_QUEUE")
async def cashback_file_events(delivery: Delivery) -> None:
    """A blob-created event: the acquirer's file it names is processed, once."""
    root = get_root()
    await root.cashback_files.intake.on_event(delivery.body, now=root.clock.now())


@bp.timer_trigger(arg_name="timer", schedule="%CASHBACK_HPAN_LIST_SCHEDULE%")
async def cashback_hpan_list(timer: func.TimerRequest) -> None:
    """Every night: the list of hashed PANs enabled for cashback, for acquirers to filter."""
    root = get_root()
    await root.cashback_files.hpan_list.write(now=root.clock.now())
