"""The acquirers' files' part of the composition root (kept apart so root.py stays readable):
GnuPG with the platform's key, the files' storage, the intake, the uploads and the lists."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from azure.storage.blob.aio import BlobServiceClient

from shared.cashback.acquirer_lists import CosmosEnabledHpans, HpanList
from shared.cashback.delivery import Uploads
from shared.cashback.file_blobs import AzureFileBlobs
from shared.cashback.file_intake import FileIntake
from shared.cashback.pgp import GnuPG, PrivateKey
from shared.cashback.store import CosmosCashbackStore

if TYPE_CHECKING:
    from functions.root import Root


class CashbackFiles:
    """Built once per process by :meth:`functions.root.Root.cashback_files`."""

    def __init__(self, root: Root) -> None:
        self._root = root
        self._files_service: BlobServiceClient | None = None

    async def _private_key(self) -> PrivateKey:
        s, secrets = self._root.settings, self._root.secrets
        passphrase = None
        if s.cashback_pgp_passphrase_secret:
            passphrase = await secrets.get(s.cashback_pgp_passphrase_secret)
        return PrivateKey(await secrets.get(s.cashback_pgp_private_key_secret), passphrase)

    @cached_property
    def gnupg(self) -> GnuPG:
        return GnuPG(self._private_key)

    def _files_blob_service(self) -> BlobServiceClient:
        """The SFTP-enabled account by managed identity in Azure; the host's storage locally."""
        s = self._root.settings
        if not s.cashback_files_storage_account:
            return self._root.clients.blob_service()
        if self._files_service is None:
            self._files_service = BlobServiceClient(
                f"https://{s.cashback_files_storage_account}.blob.core.windows.net",
                credential=self._root.clients.azure_credential(),
            )
        return self._files_service

    @cached_property
    def blobs(self) -> AzureFileBlobs:
        return AzureFileBlobs(self._files_blob_service)

    @cached_property
    def store(self) -> CosmosCashbackStore:
        s = self._root.settings
        return CosmosCashbackStore(
            self._root.clients.container(s.cashback_container), s.cosmos_timeout_seconds
        )

    @cached_property
    def intake(self) -> FileIntake:
        s = self._root.settings
        return FileIntake(
            blobs=self.blobs,
            decryptor=self.gnupg,
            store=self.store,
            parties=self._root.parties(),
            sender=self._root.sender,
            queue=s.cashback_transactions_queue,
            periods=self._root.cashback().calendar,
            container_prefix=s.cashback_files_container_prefix,
            files_queue=s.cashback_files_queue,
            slice_seconds=s.cashback_files_slice_seconds,
        )

    @cached_property
    def uploads(self) -> Uploads:
        s = self._root.settings
        return Uploads(
            blobs=self.blobs,
            store=self.store,
            sender=self._root.sender,
            events_queue=s.cashback_files_queue,
            container_prefix=s.cashback_files_container_prefix,
            local_events=s.cashback_files_local_events,
        )

    @cached_property
    def hpan_list(self) -> HpanList:
        s = self._root.settings
        hpans = CosmosEnabledHpans(
            self._root.clients.container(s.cashback_container), s.cosmos_timeout_seconds
        )
        lists = AzureFileBlobs(self._root.clients.blob_service)
        return HpanList(hpans, lists, s.cashback_lists_blob_container)

    async def close(self) -> None:
        await self.gnupg.close()
        if self._files_service is not None:
            await self._files_service.close()
