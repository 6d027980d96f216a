"""The journal's parts, wired for :class:`functions.root.Root` (apart, so the composition root
stays one screen per capability)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.journal.service import Journal
from shared.journal.store import CosmosJournalStore

if TYPE_CHECKING:
    from functions.root import Root


def build_journal(root: Root) -> Journal:
    """The journal on its own container, entries kept ``JOURNAL_RETENTION_DAYS``; a
    station's ECs read from the party registry."""
    s = root.settings
    container = root.clients.container(s.journal_container)
    store = CosmosJournalStore(container, s.cosmos_timeout_seconds)
    return Journal(store, retention_days=s.journal_retention_days, parties=root.parties())
