"""What acquirers filter their transactions with, as pagoPA served it: the salt, the list of
hashed PANs enabled for cashback, and the platform's PGP public key.

Acquirers send only transactions of enrolled cards (interface v5.0, "Process for sending
transactions to RTD"): their batch hashes each PAN with the salt (SHA-256 of PAN + salt, the
platform's hpan) and keeps the lines whose hash is on the list. The list is regenerated on a
schedule (``cashback_hpan_list`` timer) as a zip holding one CSV of hashes, one a line, stored
in Blob storage with its SHA-256 (hex, of the zip) as the blob's ``sha256`` metadata, which
Blob storage returns as the ``x-ms-meta-sha256`` header; the route redirects (302) to a
short-lived read URL of that blob, as pagoPA's did. Sources: docs/cashback-files.md.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from azure.cosmos.aio import ContainerProxy
from pydantic import BaseModel, ConfigDict, Field

from shared.cashback.file_blobs import FileBlobs
from shared.platform.cosmos import guarded
from shared.platform.errors import ConfigurationError

LIST_BLOB = "hashed-pans.zip"
LIST_ENTRY = "hashed-pans.csv"
CHECKSUM_METADATA = "sha256"
_ENABLED = "SELECT VALUE c.id FROM c WHERE c.kind = 'hpan' AND IS_STRING(c.active)"


class Salt(BaseModel):
    salt: str = Field(description="Appended to the PAN before hashing: SHA-256(PAN + salt), hex")


class PublicKey(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    public_key: str = Field(
        alias="publicKey", description="The platform's armored PGP public key: encrypt to it"
    )


class HpanListWritten(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    hpans: int
    sha256: str
    generated_at: datetime = Field(alias="generatedAt")


class EnabledHpans(Protocol):
    def each(self) -> AsyncIterator[str]:
        """Every hpan enabled for cashback now (by some citizen)."""
        ...


class CosmosEnabledHpans:
    """The hpans' documents whose ``active`` names a citizen: one cross-partition read per run
    (the timer's), streamed page by page."""

    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def each(self) -> AsyncIterator[str]:
        pages = self._c.query_items(_ENABLED, max_item_count=1000).by_page()
        while True:
            async with guarded(self._timeout):
                page = await anext(pages, None)
            if page is None:
                return
            async for hpan in page:
                yield str(hpan)


def salt(value: str) -> Salt:
    """The salt acquirers hash PANs with; ConfigurationError while none is set."""
    if not value:
        raise ConfigurationError("CASHBACK_HPAN_SALT is not set")
    return Salt(salt=value)


class HpanList:
    """Writes the list of enabled hpans and hands out where to download it."""

    def __init__(self, hpans: EnabledHpans, blobs: FileBlobs, container: str) -> None:
        self._hpans = hpans
        self._blobs = blobs
        self._container = container

    async def write(self, *, now: datetime) -> HpanListWritten:
        """The list as of ``now``: a zip of one CSV, spooled to disk past a few MB."""
        count = 0
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            with (
                zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive,
                archive.open(_entry(now), "w", force_zip64=True) as entry,
            ):
                async for hpan in self._hpans.each():
                    entry.write(hpan.encode("ascii") + b"\n")
                    count += 1
            spool.seek(0)
            digest = hashlib.sha256()
            while block := spool.read(1 << 20):
                digest.update(block)
            spool.seek(0)
            checksum = digest.hexdigest()
            metadata = {CHECKSUM_METADATA: checksum, "generatedat": now.isoformat()}
            await self._blobs.put(self._container, LIST_BLOB, spool, metadata)
        return HpanListWritten(hpans=count, sha256=checksum, generated_at=now)

    async def download_url(self, *, now: datetime) -> str:
        # before the nightly timer's first run (a new deployment) the list is written now, so
        # that the redirect never leads to a missing blob
        if not await self._blobs.exists(self._container, LIST_BLOB):
            await self.write(now=now)
        return await self._blobs.read_url(self._container, LIST_BLOB, now=now)


def _entry(now: datetime) -> zipfile.ZipInfo:
    # a fixed name and the generation time: the same hpans at the same instant, the same zip
    info = zipfile.ZipInfo(LIST_ENTRY, date_time=now.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    return info
