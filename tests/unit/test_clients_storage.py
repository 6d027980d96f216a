"""Which storage account the app's Blob client reaches: the identity settings win over a
connection string, because a platform may write its own ``AzureWebJobsStorage`` beside them
(azurerm's Flex Consumption resource writes one with an empty key: issue 29693) and the
account refuses keys."""

from __future__ import annotations

import pytest

from local import settings_doc
from shared.platform.clients import Clients
from shared.platform.config import load_settings
from shared.platform.errors import ConfigurationError

AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
    "KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)
EMPTY_KEY = (
    "DefaultEndpointsProtocol=https;AccountName=cstellaproditnfunc;AccountKey=;"
    "EndpointSuffix=core.windows.net"
)


def settings(**values: str) -> Clients:
    """Clients of the example settings, storage settings replaced by ``values``."""
    base = {
        **settings_doc.example_values(),
        "CITIZEN_JWKS_URL": "https://login.example/jwks",
        "AzureWebJobsStorage": "",
        "AzureWebJobsStorage__accountName": "",
    }
    return Clients(load_settings({**base, **values}))


async def test_the_account_name_wins_over_a_connection_string() -> None:
    clients = settings(AzureWebJobsStorage=EMPTY_KEY, AzureWebJobsStorage__accountName="mine")
    try:
        service = clients.blob_service()
        assert service.account_name == "mine"
        assert service.url.startswith("https://mine.blob.core.windows.net")
        assert service.credential is clients.azure_credential()
    finally:
        await clients.close()


async def test_a_connection_string_alone_is_used_locally() -> None:
    clients = settings(AzureWebJobsStorage=AZURITE, AzureWebJobsStorage__accountName="")
    try:
        service = clients.blob_service()
        assert service.account_name == "devstoreaccount1"
        assert service.url.startswith("http://127.0.0.1:10000/devstoreaccount1")
    finally:
        await clients.close()


async def test_no_storage_setting_is_a_configuration_error() -> None:
    clients = settings()
    try:
        with pytest.raises(ConfigurationError):
            clients.blob_service()
    finally:
        await clients.close()
