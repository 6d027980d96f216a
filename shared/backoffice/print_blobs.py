"""Print jobs in a Blob container of the host's storage account: ``<id>.json`` (the job's
state) and ``<id>.pdf`` (its PDF, built from one block per part).

The link to a done PDF is a read-only shared access signature on that one blob: signed with
the account's key where the app has one (a connection string: Azurite locally), or a user
delegation SAS signed by a key the app's managed identity asks the service for (Azure: no
account key anywhere; the identity needs a role that grants
``generateUserDelegationKey``, which Storage Blob Data Contributor does). Sources: Microsoft's
"Create a user delegation SAS" (learn.microsoft.com/rest/api/storageservices/create-user-
delegation-sas) and azure-storage-blob's ``generate_blob_sas``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobSasPermissions, ContentSettings, generate_blob_sas

from shared.backoffice.print_jobs import PrintJob
from shared.platform.storage import BlobContainer, guarded_blob

BLOB_TIMEOUT_SECONDS = 60.0
"""One call: a part's block (a few hundred KB), a job's state, the commit."""


def block_id(part: int) -> str:
    """The block of part ``part``: every id of a blob has the same length (the service's rule;
    the SDK base64-encodes it)."""
    return f"part-{part:06d}"


class AzurePrintJobs(BlobContainer):
    """:class:`~shared.backoffice.print_jobs.PrintJobStore` on one container of the process's
    shared BlobServiceClient."""

    timeout_seconds = BLOB_TIMEOUT_SECONDS

    async def save(self, job: PrintJob) -> None:
        data = job.model_dump_json(by_alias=True).encode()
        async with guarded_blob(self._timeout):
            await self._blob(f"{job.id}.json").upload_blob(
                data,
                overwrite=True,
                length=len(data),
                content_settings=ContentSettings(content_type="application/json"),
            )

    async def load(self, job_id: str) -> PrintJob | None:
        try:
            async with guarded_blob(self._timeout):
                downloader = await self._blob(f"{job_id}.json").download_blob()
                data = await downloader.readall()
        except ResourceNotFoundError:
            return None
        return PrintJob.model_validate_json(data)

    async def stage(self, job_id: str, part: int, data: bytes) -> None:
        async with guarded_blob(self._timeout):
            await self._blob(f"{job_id}.pdf").stage_block(block_id(part), data, length=len(data))

    async def commit(self, job_id: str, parts: int, filename: str) -> None:
        blocks = [BlobBlock(block_id=block_id(n)) for n in range(parts)]
        settings = ContentSettings(
            content_type="application/pdf",
            content_disposition=f'attachment; filename="{filename}"',
        )
        async with guarded_blob(self._timeout):
            await self._blob(f"{job_id}.pdf").commit_block_list(blocks, content_settings=settings)

    async def read_url(self, job_id: str, *, now: datetime, minutes: int) -> str:
        service = self._service()
        name = f"{job_id}.pdf"
        expiry = now + timedelta(minutes=minutes)
        key = getattr(service.credential, "account_key", None)
        if key is not None:  # a connection string's key: Azurite locally
            sas = generate_blob_sas(
                service.account_name or "",
                self._container,
                name,
                account_key=key,
                permission=BlobSasPermissions(read=True),
                expiry=expiry,
            )
        else:  # managed identity: a user delegation SAS
            async with guarded_blob(self._timeout):
                delegation = await service.get_user_delegation_key(now, expiry)
            sas = generate_blob_sas(
                service.account_name or "",
                self._container,
                name,
                user_delegation_key=delegation,
                permission=BlobSasPermissions(read=True),
                expiry=expiry,
            )
        return f"{self._blob(name).url}?{sas}"
