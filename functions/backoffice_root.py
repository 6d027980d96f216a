"""The back office's parts, wired for :class:`functions.root.Root` (apart, so the composition
root stays one screen per capability): its users and roles, the service over the archive and
the EC-scoped positions index, the paper-notice printer and its batch jobs, the files'
uploads, each built once per process."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from shared.backoffice.print_blobs import AzurePrintJobs
from shared.backoffice.print_jobs import PrintJobs
from shared.backoffice.printing import NoticePrinter
from shared.backoffice.service import BackOffice
from shared.backoffice.uploads import BackOfficeUploads
from shared.parties.store import CosmosPartyStore
from shared.parties.users import BackOfficeUsers

if TYPE_CHECKING:
    from functions.root import Root


class BackOfficeParts:
    """Built once per process by :attr:`functions.root.Root.backoffice_parts`."""

    def __init__(self, root: Root) -> None:
        self._root = root

    @cached_property
    def service(self) -> BackOffice:
        root = self._root
        s = root.settings
        users = BackOfficeUsers(
            CosmosPartyStore(root.clients.container(s.parties_container), s.cosmos_timeout_seconds)
        )
        return BackOffice(users, root.notices(), root.positions_index.store)

    @cached_property
    def printer(self) -> NoticePrinter:
        return NoticePrinter(self._root.backoffice(), self._root.notices().ecs)

    @cached_property
    def print_jobs(self) -> PrintJobs:
        """Batches of paper notices: queued, rendered by a queue worker into a blob."""
        root = self._root
        s = root.settings
        store = AzurePrintJobs(root.clients.blob_service, s.backoffice_print_blob_container)
        return PrintJobs(
            root.backoffice(), self.printer, store, root.sender, s.backoffice_print_queue
        )

    @cached_property
    def uploads(self) -> BackOfficeUploads:
        root = self._root
        return BackOfficeUploads(root.backoffice(), root.notice_bulks(), root.notices().ecs)
