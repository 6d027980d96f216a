"""The notice index's parts, wired for :class:`functions.root.Root` (kept apart so the
composition root stays one screen per capability): its store on the payments container, the
index service and the payments' notifier, each built once per process."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared.payments.index_service import NoticeIndex
from shared.payments.index_store import CosmosIndexStore
from shared.payments.notify import PaymentsNotifier

if TYPE_CHECKING:
    from functions.root import Root


class NoticeIndexParts:
    """Built once per process by :attr:`functions.root.Root.notice_index_parts`."""

    def __init__(self, root: Root) -> None:
        self._root = root

    @cached_property
    def store(self) -> CosmosIndexStore:
        s = self._root.settings
        return CosmosIndexStore(
            self._root.clients.container(s.payments_container), s.cosmos_timeout_seconds
        )

    @cached_property
    def notifier(self) -> PaymentsNotifier:
        """The payments' pushes, through push's service as the sender ``payments``."""
        root = self._root
        return PaymentsNotifier(root.push_requests(), root.parties(), root.clock)

    @cached_property
    def index(self) -> NoticeIndex:
        return NoticeIndex(self.store, self._root.user_ids(), self.notifier)
