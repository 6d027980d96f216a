"""Local Azure Storage: Azurite (blob, queue, table) in memory, for ``AzureWebJobsStorage``.

``start_azurite()`` runs ``launcher.js``, which loads Azurite in its own Node process on free
ports of 127.0.0.1 and prints ``PORTS blob=<b> queue=<q> table=<t>`` then ``READY <b>``::

    storage = start_azurite()
    settings["AzureWebJobsStorage"] = storage.connection_string()
"""

from __future__ import annotations

import re
from pathlib import Path

from local.process import ROOT, Child, ChildFailed

ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""The well-known public key of Azurite's default account."""

LAUNCHER = Path(__file__).resolve().parent / "launcher.js"
_PORTS = re.compile(r"^PORTS blob=(\d+) queue=(\d+) table=(\d+)$", re.MULTILINE)


class Azurite(Child):
    """The running Azurite: a ``Child`` (``.port`` is the blob port) that knows all three ports."""

    def __init__(self, *, ready_timeout: float = 60.0) -> None:
        super().__init__("azurite", ["node", str(LAUNCHER)], ready_timeout=ready_timeout, cwd=ROOT)
        found = _PORTS.search(self.output)
        if found is None:
            self.stop()
            raise ChildFailed(f"azurite did not report its ports:\n{self.output}")
        self.blob_port, self.queue_port, self.table_port = (int(p) for p in found.groups())

    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.queue_port, self.table_port)


def start_azurite(*, ready_timeout: float = 60.0) -> Azurite:
    """Start Azurite's blob, queue and table services in memory on free ports."""
    return Azurite(ready_timeout=ready_timeout)


def connection_string(blob_port: int, queue_port: int, table_port: int) -> str:
    """A storage connection string for Azurite's well-known ``devstoreaccount1`` account."""
    base = "http://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{ACCOUNT_NAME};"
        f"QueueEndpoint={base}:{queue_port}/{ACCOUNT_NAME};"
        f"TableEndpoint={base}:{table_port}/{ACCOUNT_NAME};"
    )
