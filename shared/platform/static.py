"""Files the app serves to browsers, from the deployed ``static/`` folder.

``static/`` sits beside ``function_app.py``, the app root (``/home/site/wwwroot`` in Azure), so
its place comes from this file's, never from the working directory. The npm packages' files in
it are copied there at build time (``make static``), because node_modules is not deployed:
docs/decisions/0017-browser-assets-copied-at-build.md.

A folder serves one HTML page (its own route) and assets by plain file name. A name is served
only if it is a file name with a known suffix, so nothing outside the folder can be named: a
``/``, ``\\``, ``%``, ``..`` or leading dot is simply not found, however the host decoded it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from shared.platform.errors import NotFound

APP_ROOT = Path(__file__).resolve().parents[2]
STATIC_ROOT = APP_ROOT / "static"

PAGE_CACHE = "no-cache"
"""The page is revalidated on every visit (a 304 when unchanged), so a deployment shows at once."""
ASSET_CACHE = "public, max-age=3600"
"""Asset names carry no version: an hour bounds how long a browser mixes old and new files."""

CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".woff2": "font/woff2",
}
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+")


def content_type(name: str) -> str | None:
    """The Content-Type ``name`` is served with, or None if no such name is ever served."""
    if not _FILE_NAME.fullmatch(name):
        return None
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower())


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, content_type: str) -> StaticFile:
        return cls(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@dataclass(frozen=True)
class StaticReply:
    """What to answer: 200 with the file, or 304 when the browser's copy is current."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


class StaticFolder:
    """One folder under static/: its page and its assets, read once per process.

    Args:
        root: the folder.
        page: the file served by :meth:`page`; the asset route never serves it nor any other
            HTML, whose relative links would resolve against the wrong URL there.
        page_headers: extra headers of the page (its Content-Security-Policy).
    """

    def __init__(
        self,
        root: Path,
        *,
        page: str = "index.html",
        page_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.page_name = page
        self.page_headers = dict(page_headers or {})
        self._files: dict[str, StaticFile] = {}

    async def page(self, if_none_match: str | None = None) -> StaticReply:
        file = await self._read(self.page_name)
        return _reply(file, PAGE_CACHE, if_none_match, self.page_headers)

    async def asset(self, name: str, if_none_match: str | None = None) -> StaticReply:
        """The asset ``name``; :class:`NotFound` for any name that is not one of its files."""
        kind = content_type(name)
        if kind is None or kind.startswith("text/html"):
            raise NotFound("no such file")
        return _reply(await self._read(name), ASSET_CACHE, if_none_match, {})

    async def _read(self, name: str) -> StaticFile:
        cached = self._files.get(name)
        if cached is not None:
            return cached
        kind = content_type(name)
        if kind is None:
            raise NotFound("no such file")
        body = await asyncio.to_thread(_read_file, self.root / name)
        if body is None:
            raise NotFound("no such file")
        self._files[name] = file = StaticFile.of(body, kind)
        return file


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _reply(
    file: StaticFile, cache_control: str, if_none_match: str | None, extra: Mapping[str, str]
) -> StaticReply:
    headers = {
        "Cache-Control": cache_control,
        "ETag": file.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if matches(if_none_match, file.etag):
        return StaticReply(304, b"", headers)
    return StaticReply(200, file.body, {"Content-Type": file.content_type, **headers, **extra})
