"""The project's schema files (``schemas/``), read as they are deployed beside the code."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SCHEMAS = Path(__file__).with_name("schemas")
FILES = ("common.xsd", "nodeForPsp.xsd", "paForNode.xsd", "nodeForPsp.wsdl", "paForNode.wsdl")


@cache
def schema_file(name: str) -> bytes:
    """One of :data:`FILES` (KeyError for any other name: nothing else is served)."""
    if name not in FILES:
        raise KeyError(name)
    return (SCHEMAS / name).read_bytes()


def wsdl(name: str, location: str, *, schemas: str | None = None) -> bytes:
    """The WSDL ``name`` with its service address set to ``location``, where it is served, and
    its schema imports under ``schemas`` (a URL ending in ``/``) when given."""
    text = schema_file(name).decode()
    start = text.index('<soap:address location="') + len('<soap:address location="')
    end = text.index('"', start)
    text = text[:start] + _attribute(location) + text[end:]
    if schemas is not None:
        for xsd in FILES:
            if xsd.endswith(".xsd"):
                text = text.replace(
                    f'schemaLocation="{xsd}"', f'schemaLocation="{_attribute(schemas + xsd)}"'
                )
    return text.encode()


def _attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
