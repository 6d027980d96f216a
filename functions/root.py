"""The composition root of a worker process: builds every adapter once, on first use.

Triggers ask :func:`get_root` for services; services get their ports as parameters. Nothing
else wires adapters together.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property

from functions.backoffice_index_root import PositionsIndexParts
from functions.backoffice_root import BackOfficeParts
from functions.cashback_push import CashbackPush
from functions.files_root import CashbackFiles
from functions.journal_root import build_journal
from functions.payments_index_root import NoticeIndexParts
from functions.payments_root import PaymentsParts
from functions.standin_root import StandInParts
from functions.wallet_root import build_wallet
from shared.auth.citizen import CitizenTokenVerifier
from shared.auth.keys import JwksKeys, KeySource, PemKeys
from shared.auth.secrets import KeyVaultSecrets, LocalSecrets, SecretProvider
from shared.auth.user_ids import UserIds
from shared.backoffice.printing import NoticePrinter
from shared.backoffice.service import BackOffice
from shared.backoffice.uploads import BackOfficeUploads
from shared.cashback.alerts import Alerts
from shared.cashback.bank import HttpBankCheck
from shared.cashback.intake import Intake
from shared.cashback.payout_files import AzurePayoutFiles
from shared.cashback.payouts import PayoutJob
from shared.cashback.ranking import RankingJob
from shared.cashback.scorer import Scorer
from shared.cashback.service import Cashback
from shared.cashback.settings import configured_periods
from shared.cashback.store import CosmosCashbackStore
from shared.journal.service import Journal
from shared.notices.blobs import AzureBlobs
from shared.notices.bulk import Bulks
from shared.notices.events import ArchiveEvents
from shared.notices.service import EcDirectory, NoticeArchive
from shared.notices.store import CosmosBulkStore, CosmosNoticeStore
from shared.parties.service import PartyRegistry
from shared.parties.store import CosmosPartyStore
from shared.payments.paying import Payments
from shared.payments.receipts_api import Receipts as PaymentReceipts
from shared.platform import telemetry
from shared.platform.clients import Clients, SessionSpec, get_clients
from shared.platform.clock import Clock, current_clock
from shared.platform.collector import pace_collector
from shared.platform.config import Settings
from shared.platform.failed_work import CosmosFailedWork
from shared.platform.messaging import ServiceBusSender
from shared.platform.outbox import Outbox
from shared.platform.queue_work import Policy, Ports
from shared.platform.resources import OUTBOX_CONTAINERS
from shared.push.client import PushDispatcher, build_dispatcher
from shared.push.preferences import PushPreferences
from shared.push.senders import CosmosSenderUsage
from shared.push.service import PushRequests, PushWorker
from shared.push.settings import push_hubs
from shared.push.store import CosmosInstallationStates
from shared.standin.channels import Channels
from shared.standin.gateway import Gateway
from shared.standin.manager import Manager
from shared.standin.node import Node
from shared.standin.receipts import Receipts
from shared.wallet.service import Wallet


class Root:
    """Every adapter and service of one process, built lazily."""

    def __init__(self, clients: Clients, clock: Clock) -> None:
        self.clients = clients
        self.clock = clock

    @property
    def settings(self) -> Settings:
        return self.clients.settings

    @cached_property
    def sender(self) -> ServiceBusSender:
        return ServiceBusSender(self.clients)

    @cached_property
    def failed_work(self) -> CosmosFailedWork:
        s = self.settings
        return CosmosFailedWork(
            self.clients.container(s.failed_work_container), s.cosmos_timeout_seconds
        )

    def queue_ports(self, *, max_attempts: int | None = None) -> Ports:
        """The queue endings' ports; ``max_attempts``: a queue's own reschedule limit."""
        s = self.settings
        policy = Policy(
            max_delivery_count=s.max_delivery_count,
            max_attempts=max_attempts or s.reschedule_max_attempts,
            base_delay=s.reschedule_base_seconds,
            max_delay=s.reschedule_cap_seconds,
        )
        return Ports(failed=self.failed_work, sender=self.sender, clock=self.clock, policy=policy)

    def parties(self) -> PartyRegistry:
        return self._parties

    @cached_property
    def _parties(self) -> PartyRegistry:
        s = self.settings
        return PartyRegistry(
            CosmosPartyStore(self.clients.container(s.parties_container), s.cosmos_timeout_seconds)
        )

    def citizen_tokens(self) -> CitizenTokenVerifier:
        return self._citizen_tokens

    @cached_property
    def _citizen_tokens(self) -> CitizenTokenVerifier:
        s = self.settings
        keys: KeySource
        if s.jwks_url:
            keys = JwksKeys(self.clients.session("jwks"), s.jwks_url)
        else:
            assert s.jwt_public_key is not None
            keys = PemKeys(s.jwt_public_key)
        return CitizenTokenVerifier(keys, issuer=s.jwt_issuer, audience=s.jwt_audience)

    @cached_property
    def secrets(self) -> SecretProvider:
        s = self.settings
        if s.key_vault_url:
            from azure.keyvault.secrets.aio import SecretClient

            client = SecretClient(s.key_vault_url, self.clients.azure_credential())
            return KeyVaultSecrets(client)
        return LocalSecrets(s.local_secrets)

    def outboxes(self) -> list[Outbox]:
        """One outbox publisher per container whose documents carry events."""
        return list(self._outboxes.values())

    @cached_property
    def _outboxes(self) -> dict[str, Outbox]:
        s = self.settings
        found: dict[str, Outbox] = {}
        for name, partition_key in OUTBOX_CONTAINERS.items():
            container_name = getattr(s, name)
            found[name] = Outbox(
                self.clients.container(container_name),
                self.sender,
                partition_key=partition_key,
                timeout=s.cosmos_timeout_seconds,
            )
        return found

    def outbox(self, setting: str) -> Outbox:
        return self._outboxes[setting]

    async def drain_outboxes(self) -> None:
        """Wait for the events handed to ``Outbox.publish_soon`` (shutdown: what is not sent
        by then waits in its outbox for the sweep)."""
        if "_outboxes" in self.__dict__:  # built: some invocation used them
            for box in self._outboxes.values():
                await box.drain()

    def wallet(self) -> Wallet:
        return self._wallet

    def user_ids(self) -> UserIds:
        """Citizens' pseudonymous user ids (the wallet's keys; cashback maps them back)."""
        return self._user_ids

    @cached_property
    def _user_ids(self) -> UserIds:
        return UserIds(self.secrets)

    @cached_property
    def _wallet(self) -> Wallet:
        return build_wallet(self)

    def cashback(self) -> Cashback:
        return self._cashback

    @cached_property
    def _cashback_store(self) -> CosmosCashbackStore:
        """One store on the cashback container, shared by the service, scorer and jobs."""
        s = self.settings
        return CosmosCashbackStore(
            self.clients.container(s.cashback_container), s.cosmos_timeout_seconds
        )

    @cached_property
    def _cashback(self) -> Cashback:
        s = self.settings
        spec = SessionSpec(
            limit=32,
            limit_per_host=32,
            total_timeout=s.cashback_bank_check_timeout_seconds,
            connect_timeout=min(3.0, s.cashback_bank_check_timeout_seconds),
        )
        bank = HttpBankCheck(
            lambda: self.clients.session("bank-check", spec),
            base_url=s.cashback_bank_check_url,
            timeout=s.cashback_bank_check_timeout_seconds,
        )
        return Cashback(
            store=self._cashback_store,
            wallet=self.wallet(),
            periods=configured_periods(s.cashback_periods),
            publisher=self.outbox("cashback_container"),
            bank=bank,
            iban_queue=s.iban_check_queue,
            notifier=CashbackPush(self.push_requests(), self.parties()),
            user_ids=self.user_ids(),
        )

    def cashback_intake(self) -> Intake:
        return self._cashback_intake

    @cached_property
    def _cashback_intake(self) -> Intake:
        s = self.settings
        return Intake(self.sender, s.cashback_transactions_queue, self.cashback().calendar)

    def cashback_scorer(self) -> Scorer:
        return self._cashback_scorer

    @cached_property
    def _cashback_scorer(self) -> Scorer:
        return Scorer(self._cashback_store, self.cashback().calendar)

    def cashback_ranking(self) -> RankingJob:
        return self._cashback_ranking

    @cached_property
    def _cashback_ranking(self) -> RankingJob:
        return RankingJob(self._cashback_store, self.cashback().calendar)

    def cashback_payouts(self) -> PayoutJob:
        return self._cashback_payouts

    @cached_property
    def _cashback_payouts(self) -> PayoutJob:
        s = self.settings
        files = AzurePayoutFiles(self.clients.blob_service, s.cashback_payouts_blob_container)
        return PayoutJob(
            self._cashback_store, files, self.cashback().calendar, self.cashback_alerts()
        )

    def cashback_alerts(self) -> Alerts:
        return self._cashback_alerts

    @cached_property
    def _cashback_alerts(self) -> Alerts:
        """Cashback's notifications, sent through push's service as the sender ``cashback``."""
        return Alerts(self._cashback_store, CashbackPush(self.push_requests(), self.parties()))

    @cached_property
    def cashback_files(self) -> CashbackFiles:
        """Acquirers' files: their intake, uploads and lists (functions/files_root.py)."""
        return CashbackFiles(self)

    def notices(self) -> NoticeArchive:
        return self._notices

    @cached_property
    def _notices(self) -> NoticeArchive:
        s = self.settings
        store = CosmosNoticeStore(
            self.clients.container(s.notices_container), s.cosmos_timeout_seconds
        )
        return NoticeArchive(store, EcDirectory(self.parties()), events=self.notice_events())

    def notice_events(self) -> ArchiveEvents:
        """Where the archive's events go: one queue per consumer (add a consumer's queue
        here: docs/payments.md, "My notices and pushes")."""
        s = self.settings
        return ArchiveEvents(
            (s.payments_notices_queue, s.journal_queue, s.backoffice_positions_queue),
            self.outbox("notices_container"),
            notes_queue=s.journal_queue,  # who wrote, from where: the back office's writes
        )

    @cached_property
    def journal(self) -> Journal:
        """The event journal (docs/journal.md), built in functions/journal_root.py."""
        return build_journal(self)

    @cached_property
    def backoffice_parts(self) -> BackOfficeParts:
        """The back office's parts (functions/backoffice_root.py), built once."""
        return BackOfficeParts(self)

    def backoffice(self) -> BackOffice:
        return self.backoffice_parts.service

    @cached_property
    def positions_index(self) -> PositionsIndexParts:
        """The back office's EC-scoped positions index (functions/backoffice_index_root.py)."""
        return PositionsIndexParts(self)

    def notice_printer(self) -> NoticePrinter:
        return self.backoffice_parts.printer

    def backoffice_uploads(self) -> BackOfficeUploads:
        return self.backoffice_parts.uploads

    def notice_bulks(self) -> Bulks:
        return self._notice_bulks

    @cached_property
    def _notice_bulks(self) -> Bulks:
        s = self.settings
        store = CosmosBulkStore(
            self.clients.container(s.notice_bulks_container), s.cosmos_timeout_seconds
        )
        blobs = AzureBlobs(self.clients.blob_service, s.notices_blob_container)
        return Bulks(
            self.notices(),
            store,
            blobs,
            self.sender,
            self.parties(),
            queue=s.notices_queue,
            chunk_lines=s.notices_bulk_chunk_lines,
            concurrency=s.notices_bulk_concurrency,
            journal=(s.journal_queue, self.outbox("notice_bulks_container")),
        )

    # ------------------------------------------------------------------ stand-in
    @cached_property
    def standin(self) -> StandInParts:
        """The stand-in's parts (functions/standin_root.py), built once per process."""
        return StandInParts(self)

    def standin_gateway(self) -> Gateway:
        return self.standin.gateway

    def standin_channels(self) -> Channels:
        return self.standin.channels

    def standin_node(self) -> Node:
        return self.standin.node

    def standin_manager(self) -> Manager:
        return self.standin.manager

    def standin_receipts(self) -> Receipts:
        return self.standin.receipts

    # ------------------------------------------------------------------ payments
    @cached_property
    def payments_parts(self) -> PaymentsParts:
        """The payment transactions' parts (functions/payments_root.py), built once."""
        return PaymentsParts(self)

    def payments(self) -> Payments:
        return self.payments_parts.payments

    def receipts(self) -> PaymentReceipts:
        """Citizens' receipts: their list, JSON and PDF (kept in Blob once rendered)."""
        return self.payments_parts.receipt_service

    @cached_property
    def notice_index_parts(self) -> NoticeIndexParts:
        """The notice index and the payments' pushes (functions/payments_index_root.py)."""
        return NoticeIndexParts(self)

    def push_requests(self) -> PushRequests:
        return self._push_requests

    @cached_property
    def _push_requests(self) -> PushRequests:
        s = self.settings
        # the senders' per-minute usage sits beside the installations (partition key /id)
        usage = CosmosSenderUsage(
            self.clients.container(s.push_installations_container), s.cosmos_timeout_seconds
        )
        return PushRequests(self.sender, s.push_queue, usage)

    def push_preferences(self) -> PushPreferences:
        return PushPreferences(self._push_states)

    @cached_property
    def _push_states(self) -> CosmosInstallationStates:
        s = self.settings
        return CosmosInstallationStates(
            self.clients.container(s.push_installations_container), s.cosmos_timeout_seconds
        )

    def push_worker(self) -> PushWorker:
        return self._push_worker

    @cached_property
    def _push_worker(self) -> PushWorker:
        return PushWorker(self.push_dispatcher, self._push_states)

    @cached_property
    def push_dispatcher(self) -> PushDispatcher:
        """Every hub on one shared session per namespace; ConfigurationError on first use
        if the PUSH_HUB_<n>_* settings are not valid (nothing is cached then)."""
        return build_dispatcher(self.settings, push_hubs(), self.clients.session, self.clock)


OUTBOX_SWEEP_AGE = timedelta(seconds=30)

_root: Root | None = None


def get_root() -> Root:
    """The root of this process (built on first use, after the dev host set its clock)."""
    global _root
    if _root is None:
        clients = get_clients()
        pace_collector()
        telemetry.configure(connection_string=clients.settings.appinsights_connection_string)
        _root = Root(clients, current_clock())
    return _root


async def drain_root() -> None:
    """Before the clients close (the dev host's shutdown): let the outboxes' flushes finish."""
    if _root is not None:
        await _root.drain_outboxes()


def use_root(root: Root | None) -> None:
    """Install a root (the functions-tier tests install one built on in-memory fakes)."""
    global _root
    _root = root
