"""The local platform: emulators started, containers and queues created, demo parties seeded.

Used by ``make run`` (``local/run.py``) and by the test suite, which starts its own instance on
free ports. Containers and queues come from :mod:`~shared.platform.resources`: definitions the app
itself uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.cosmos import CosmosClient, PartitionKey

from local import cosmos, nhsim, servicebus
from local.azurite import Azurite, start_azurite
from local.banksim import start_banksim
from local.ecsim import DEMO_NOTICES, start_ecsim
from local.process import ROOT, Child
from local.psp import DEV_HPAN_SALT, start_psp
from local.psp import base_url as psp_base_url
from local.sftp import DEV_SFTP_PASSWORD, start_sftp
from local.tokens import generate_key_pair
from shared.platform.config import Settings, load_settings
from shared.platform.errors import ConfigurationError
from shared.platform.resources import CONTAINERS, blob_container_names, queue_definitions

DEMO_EC = "77777777777"
DEMO_IBAN = "IT60X0542811101000000123456"  # the well-known example IBAN
DEMO_POSTAL_ACCOUNT = "123456789012"
"""The demo EC's BancoPosta account (made up): its paper notices carry Poste's slip."""
DEMO_INTERMEDIARY = "DEMOINT"
DEMO_STATION = f"{DEMO_EC}_01"
DEMO_SENDER = "DEMOSENDER"
DEMO_SENDER_LIMITS = {"requestsPerMinute": 600, "recipientsPerMinute": 60_000}
"""The demo sender's rate limits (its registry entry's ``sendLimits``)."""
DEMO_STATION_SECRET = "station-demo-credential"
"""The secret (in LOCAL_SECRETS) holding the credential the demo station expects from us."""
DEMO_PSP = "DEMOPSP"


@dataclass(frozen=True)
class DemoChannel:
    """The demo PSP's credentials on the node's SOAP primitives (``idPSP``, ``idBrokerPSP``,
    ``idChannel``, ``password``): its broker is seeded as an intermediary acting for it, the
    channel with its password hashed. Local only, not a secret."""

    id_psp: str
    id_broker_psp: str
    id_channel: str
    password: str


DEMO_CHANNEL_SETTINGS = ("DEV_NODE_BROKER_PSP", "DEV_NODE_CHANNEL", "DEV_NODE_CHANNEL_PASSWORD")


def demo_channel(env: Mapping[str, str]) -> DemoChannel:
    """The demo channel the local settings name (``DEV_NODE_*``); a settings file copied before
    they existed takes local.settings.example.json's."""
    example: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ]
    broker, channel, password = (env.get(name) or example[name] for name in DEMO_CHANNEL_SETTINGS)
    return DemoChannel(DEMO_PSP, broker, channel, password)


DEMO_ACQUIRER_ABI = "99999"
"""The ABI code the demo acquirer's files carry (CSTAR.99999.TRNLOG...)."""
SFTP_PORT = "LOCAL_SFTP_PORT"
"""Set by the platform to the local SFTP server's port (user ``demoacq``, DEV_SFTP_PASSWORD)."""


STATION_URL = "LOCAL_EC_STATION_URL"
"""Set by the platform to the EC simulator's station URL; seeded as the demo station's."""


@dataclass(frozen=True)
class DemoParty:
    party_id: str
    name: str
    role: str
    key_setting: str
    acts_for: dict[str, list[str]] = field(default_factory=dict)
    secret_name: str | None = None
    default_iban: str | None = None
    postal_account: str | None = None
    stations: tuple[str, ...] = ()
    send_limits: dict[str, int] | None = None


DEMO_PARTIES = (
    DemoParty(
        DEMO_EC,
        "Comune di Demo (creditor institution)",
        "ec",
        "DEV_PARTY_KEY_EC",
        default_iban=DEMO_IBAN,
        postal_account=DEMO_POSTAL_ACCOUNT,
        stations=(f"{DEMO_EC}_01",),
    ),
    # a circuit-like acquirer: it sends for itself and, in files of ABI 99999, for two others
    DemoParty(
        "DEMOACQ",
        "Demo acquirer",
        "acquirer",
        "DEV_PARTY_KEY_ACQUIRER",
        acts_for={DEMO_ACQUIRER_ABI: ["09509", "22222"]},
    ),
    DemoParty(DEMO_PSP, "Demo PSP", "psp", "DEV_PARTY_KEY_PSP", secret_name="psp-demo-signing"),
    DemoParty(
        DEMO_STATION,
        "Demo station of Comune di Demo",
        "station",
        "DEV_PARTY_KEY_STATION",
        acts_for={DEMO_EC: []},
        secret_name=DEMO_STATION_SECRET,
    ),
    DemoParty(
        DEMO_INTERMEDIARY,
        "Demo intermediary (technology partner of Comune di Demo)",
        "intermediary",
        "DEV_PARTY_KEY_INTERMEDIARY",
        acts_for={DEMO_EC: ["01", "02"]},
    ),
    DemoParty(
        DEMO_SENDER,
        "Demo public service (notifies citizens)",
        "sender",
        "DEV_PARTY_KEY_SENDER",
        send_limits=DEMO_SENDER_LIMITS,
    ),
    # cashback's own notices to its citizens (functions/cashback_push.py): in-process, no key
    DemoParty(
        "cashback",
        "Cashback (the programme's notices to its citizens)",
        "sender",
        "",
        send_limits=DEMO_SENDER_LIMITS,
    ),
    # the payments' pushes (shared/payments/notify.py): in-process, no key, outside the limits
    DemoParty(
        "payments",
        "Payments (new notices to pay, payments received)",
        "sender",
        "",
        send_limits=DEMO_SENDER_LIMITS,
    ),
)


def demo_psp_secret(env: dict[str, str]) -> str:
    """The demo PSP's signing secret, from the local secrets the app reads too."""
    name = next(p.secret_name for p in DEMO_PARTIES if p.role == "psp")
    return local_secret(env, name or "")


def local_secret(env: dict[str, str], name: str) -> str:
    secrets: dict[str, str] = json.loads(env.get("LOCAL_SECRETS") or "{}")
    return secrets.get(name, "")


@dataclass
class KeyPair:
    private_pem: str
    public_pem: str


def key_pair(folder: Path) -> KeyPair:
    """The dev citizen-token key pair in ``folder``, created once."""
    private, public = folder / "citizen-token.key", folder / "citizen-token.pub"
    if not private.exists():
        folder.mkdir(parents=True, exist_ok=True)
        private_pem, public_pem = generate_key_pair()
        public.write_text(public_pem)
        private.touch(mode=0o600)
        private.write_text(private_pem)
    return KeyPair(private.read_text(), public.read_text())


def provision_cosmos(settings: Settings) -> None:
    """Create the database and every container the app needs (idempotent)."""
    client = CosmosClient(
        settings.cosmos_endpoint,
        credential=settings.cosmos_key or "",
        enable_endpoint_discovery=settings.cosmos_endpoint_discovery,
    )
    database = client.create_database_if_not_exists(settings.cosmos_database)
    for spec in CONTAINERS:
        database.create_container_if_not_exists(
            getattr(settings, spec.setting),
            PartitionKey(path=spec.partition_key),
            # as the infra declares it (the emulator keeps no TTL: documents never expire here)
            default_ttl=spec.default_ttl,
        )


def provision_blobs(settings: Settings) -> None:
    """Create every Blob container the app needs (idempotent), as the infra declares them:
    the app never creates one at run time."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    assert settings.storage_connection, "AzureWebJobsStorage is not set"
    with BlobServiceClient.from_connection_string(settings.storage_connection) as client:
        for name in blob_container_names(settings):
            with contextlib.suppress(ResourceExistsError):
                client.create_container(name)


async def seed_parties(settings: Settings, env: dict[str, str]) -> None:
    """Register the demo parties with the dev keys that local settings name."""
    from datetime import UTC, datetime

    from shared.parties.models import PartyIn
    from shared.parties.service import PartyRegistry
    from shared.parties.store import CosmosPartyStore
    from shared.platform.clients import Clients

    clients = Clients(settings)
    try:
        registry = PartyRegistry(
            CosmosPartyStore(
                clients.container(settings.parties_container), settings.cosmos_timeout_seconds
            )
        )
        now = datetime.now(UTC)
        channel = demo_channel(env)
        broker = DemoParty(
            channel.id_broker_psp,
            "Demo PSP broker (the demo PSP's technology partner on the node)",
            "intermediary",
            "",
            acts_for={channel.id_psp: []},
        )
        for demo in (*DEMO_PARTIES, broker):
            await registry.register(
                PartyIn.model_validate(
                    {
                        "partyId": demo.party_id,
                        "name": demo.name,
                        "role": demo.role,
                        "actsFor": demo.acts_for,
                        "secretName": demo.secret_name,
                        "defaultIban": demo.default_iban,
                        "postalAccount": demo.postal_account,
                        "stations": list(demo.stations),
                        "endpoint": env.get(STATION_URL) if demo.role == "station" else None,
                        "sendLimits": demo.send_limits,
                    }
                ),
                now=now,
            )
            key = env.get(demo.key_setting) if demo.key_setting else None
            if key:
                await registry.add_key(demo.party_id, key, now=now)
        await seed_channel(settings, clients, registry, channel)
        await seed_backoffice_users(settings, clients, now)
    finally:
        await clients.close()


async def seed_backoffice_users(settings: Settings, clients: Any, now: Any) -> None:
    """The demo EC's back-office users (an editor and a viewer), for the dev sign-in."""
    from local.devauth import DEMO_USERS
    from shared.parties.store import CosmosPartyStore
    from shared.parties.users import BackOfficeUsers, UserIn

    users = BackOfficeUsers(
        CosmosPartyStore(
            clients.container(settings.parties_container), settings.cosmos_timeout_seconds
        )
    )
    for user in DEMO_USERS:
        await users.put(
            user.object_id,
            UserIn.model_validate({"name": user.name, "ecs": {DEMO_EC: user.role}}),
            now=now,
        )


async def seed_channel(
    settings: Settings, clients: Any, registry: Any, channel: DemoChannel
) -> None:
    """The demo PSP's channel on the node's SOAP primitives, its password hashed."""
    from datetime import UTC, datetime

    from shared.standin.channels import ChannelIn, Channels
    from shared.standin.store import CosmosStandInStore

    store = CosmosStandInStore(
        clients.container(settings.standin_container), settings.cosmos_timeout_seconds
    )
    await Channels(store, registry).put(
        channel.id_channel,
        ChannelIn(
            broker_id=channel.id_broker_psp, psps=[channel.id_psp], password=channel.password
        ),
        now=datetime.now(UTC),
    )


async def seed_demo_notices(settings: Settings) -> None:
    """The EC simulator's demo notices in the archive too, so they can be paid in stand-in."""
    from datetime import UTC, datetime

    from shared.notices.models import PositionIn
    from shared.notices.service import EcDirectory, NoticeArchive
    from shared.notices.store import CosmosNoticeStore
    from shared.parties.service import PartyRegistry
    from shared.parties.store import CosmosPartyStore
    from shared.platform.clients import Clients

    clients = Clients(settings)
    try:
        timeout = settings.cosmos_timeout_seconds
        registry = PartyRegistry(
            CosmosPartyStore(clients.container(settings.parties_container), timeout)
        )
        archive = NoticeArchive(
            CosmosNoticeStore(clients.container(settings.notices_container), timeout),
            EcDirectory(registry),
        )
        ec = await registry.get(DEMO_EC)
        for notice in DEMO_NOTICES:
            await archive.publish(
                ec,
                PositionIn.model_validate(
                    {
                        "paFiscalCode": notice.pa_fiscal_code,
                        "entityType": "F",
                        "entityFiscalCode": "RSSMRA85T10A562S",
                        "entityFullName": "Mario Rossi",
                        "iuv": notice.notice_number[1:],
                        "amount": notice.amount,
                        "description": notice.description,
                        "expirationDate": notice.due_date,
                    }
                ),
                segregation_codes=None,
                now=datetime.now(UTC),
            )
    finally:
        await clients.close()


class Platform:
    """Running emulators plus the settings that point the app at them."""

    def __init__(
        self,
        state: Path,
        base: dict[str, str],
        *,
        azurite: bool = True,
        real_hubs: dict[str, str] | None = None,
    ) -> None:
        """``real_hubs``: ``PUSH_HUB_<n>_*`` settings a developer exported; the hubs whose
        connection they set are used as they are, the others are simulated."""
        self.state = state
        state.mkdir(parents=True, exist_ok=True)
        self.clock_file = state / "clock.json"
        if not self.clock_file.exists():
            self.clock_file.write_text(json.dumps({"offsetMs": 0}))
        self.keys = key_pair(state / "keys")
        self.children: list[Child] = []
        self.env = dict(base)
        try:
            self.cosmos = self._own(cosmos.start_cosmos())
            self.env.update(
                COSMOS_ENDPOINT=cosmos.endpoint(self.cosmos.port),
                COSMOS_KEY=cosmos.EMULATOR_KEY,
                CITIZEN_JWT_PUBLIC_KEY=self.keys.public_pem,
                LOCAL_CLOCK_FILE=str(self.clock_file),
            )
            settings = self.settings()
            self.broker = self._own(
                servicebus.start_broker(
                    queues=queue_definitions(settings), clock_file=self.clock_file
                )
            )
            self.env["ServiceBusConnection"] = servicebus.connection_string(self.broker.port)
            self.psp = self._own(
                start_psp(
                    clock_file=self.clock_file,
                    secret=demo_psp_secret(self.env),
                    salt=self.env.get("DEV_HPAN_SALT") or DEV_HPAN_SALT,
                )
            )
            self.env["WALLET_PSP_BASE_URL"] = psp_base_url(self.psp)
            self.nhsim, hub_connections = nhsim.simulate_hubs(
                self.env, clock_file=self.clock_file, environ=real_hubs
            )
            self._own(self.nhsim)
            self.env.update(hub_connections)
            self.ecsim = start_ecsim(
                credential=local_secret(self.env, DEMO_STATION_SECRET),
                clock_file=self.clock_file,
                demo=True,
            )
            self._own(self.ecsim)
            self.env[STATION_URL] = self.ecsim.soap_url
            self.bank = self._own(start_banksim())
            self.env["CASHBACK_BANK_CHECK_URL"] = f"http://127.0.0.1:{self.bank.port}"
            self.azurite: Azurite | None = None
            if azurite:
                self.azurite = start_azurite()
                self._own(self.azurite)
                self.env["AzureWebJobsStorage"] = self.azurite.connection_string()
                self.sftp = self._own(
                    start_sftp(
                        clock_file=self.clock_file,
                        users={"demoacq": DEV_SFTP_PASSWORD},
                        storage=self.azurite.connection_string(),
                        servicebus=self.env["ServiceBusConnection"],
                        queue=settings.cashback_files_queue,
                        prefix=settings.cashback_files_container_prefix,
                    )
                )
                self.env[SFTP_PORT] = str(self.sftp.port)
        except BaseException:
            self.stop()
            raise

    def _own(self, child: Child) -> Child:
        self.children.append(child)
        return child

    def settings(self, **overrides: str) -> Settings:
        return load_settings({**os.environ, **self.env, **overrides})

    def provision(
        self, database: str | None = None, overrides: dict[str, str] | None = None
    ) -> Settings:
        """Create a database (default: the configured one) with every container, and every Blob
        container, as the settings with ``overrides`` (a host's own) name them; seed it."""
        named = {"COSMOS_DATABASE": database} if database else {}
        try:
            settings = self.settings(**(overrides or {}), **named)
        except ConfigurationError:
            # a host started with bad settings on purpose: provision what valid settings name
            settings = self.settings(**named)
        provision_cosmos(settings)
        if self.azurite is not None:
            provision_blobs(settings)
        env = {**os.environ, **self.env}
        # in a thread of its own, so callers inside an event loop can provision too
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, seed_parties(settings, env)).result()
        return settings

    def stop(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        self.children.clear()
