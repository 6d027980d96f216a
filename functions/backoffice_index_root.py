"""The back office's positions index, wired for :class:`functions.root.Root` (kept apart so
the composition root stays one screen per capability): its store and search on the archive's
container, and the service that keeps it."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared.backoffice.payments import BackOfficePayments
from shared.notices.ec_index_service import PositionsIndex
from shared.notices.ec_index_store import CosmosEcIndex
from shared.notices.search import CosmosPositionSearch

if TYPE_CHECKING:
    from functions.root import Root


class PositionsIndexParts:
    """Built once per process by :attr:`functions.root.Root.positions_index`."""

    def __init__(self, root: Root) -> None:
        self._root = root

    @cached_property
    def store(self) -> CosmosEcIndex:
        """The index, in the archive's container (partition ``ec:<EC>``), and its search."""
        s = self._root.settings
        return CosmosEcIndex(
            self._root.clients.container(s.notices_container), s.cosmos_timeout_seconds
        )

    @cached_property
    def payments(self) -> BackOfficePayments:
        """The EC's paid notices, read from the index."""
        return BackOfficePayments(self._root.backoffice().users, self.store, self._root.parties())

    @cached_property
    def index(self) -> PositionsIndex:
        """The consumer and the rebuild; the rebuild scans the archive across partitions
        (the interim search), once per EC."""
        s = self._root.settings
        scan = CosmosPositionSearch(
            self._root.clients.container(s.notices_container), s.cosmos_timeout_seconds
        )
        return PositionsIndex(self.store, self._root.notices(), scan)
