"""The payment transactions' parts, wired for :class:`functions.root.Root` (kept apart so the
composition root stays one screen per capability): the transactions' store, the node (the
stand-in's gateway, as the app's own PSP), the PSP gateway's charges, the receipts' store, the
settlement and the use cases, each built once per process."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from shared.payments.debtors import ArchiveDebtors
from shared.payments.fees import parse_fees
from shared.payments.gateway_client import HttpChargeGateway
from shared.payments.node import GatewayNode
from shared.payments.notify import PaymentsNotifier
from shared.payments.paying import PaymentPolicy, Payments
from shared.payments.receipts_api import AzureReceiptPdfs
from shared.payments.receipts_api import Receipts as PaymentReceipts
from shared.payments.receipts_store import CosmosReceiptStore
from shared.payments.settling import Settlement
from shared.payments.transaction_store import CosmosTransactionStore
from shared.platform.clients import SessionSpec
from shared.platform.errors import ConfigurationError
from shared.wallet.psp import RegistryPspSecrets

if TYPE_CHECKING:
    from functions.root import Root

logger = logging.getLogger(__name__)

AZURE_SITE = "WEBSITE_SITE_NAME"
"""Set by the platform in every Azure Functions app (never by the dev host)."""


def crash_hook(enabled: bool) -> None:
    """The process exits at once (the local crash test's kill between charge and outcome)."""
    if enabled:
        logger.warning("PAYMENTS_CRASH_AFTER_CHARGE: exiting after the charge")
        os._exit(86)


class PaymentsParts:
    """Built once per process by :attr:`functions.root.Root.payments_parts`."""

    def __init__(self, root: Root) -> None:
        self._root = root

    @cached_property
    def store(self) -> CosmosTransactionStore:
        s = self._root.settings
        return CosmosTransactionStore(
            self._root.clients.container(s.payments_container), s.cosmos_timeout_seconds
        )

    @cached_property
    def receipts(self) -> CosmosReceiptStore:
        s = self._root.settings
        return CosmosReceiptStore(
            self._root.clients.container(s.payments_container), s.cosmos_timeout_seconds
        )

    @cached_property
    def receipt_service(self) -> PaymentReceipts:
        """Citizens' receipts: their list, JSON and PDF (kept in Blob once rendered)."""
        s = self._root.settings
        pdfs = AzureReceiptPdfs(self._root.clients.blob_service, s.payments_receipts_blob_container)
        return PaymentReceipts(self.receipts, pdfs)

    @cached_property
    def node(self) -> GatewayNode:
        return GatewayNode(
            self._root.standin_gateway(), self._root.parties(), self._root.settings.payments_psp_id
        )

    @cached_property
    def charges(self) -> HttpChargeGateway:
        s = self._root.settings
        # The same keep-alive session as the wallet's calls to the gateway: one per service.
        spec = SessionSpec(
            limit=100,
            limit_per_host=100,
            total_timeout=s.wallet_psp_timeout_seconds,
            connect_timeout=min(3.0, s.wallet_psp_timeout_seconds),
        )
        return HttpChargeGateway(
            lambda: self._root.clients.session("psp", spec),
            base_url=s.wallet_psp_base_url,
            secrets=RegistryPspSecrets(self._root.parties(), self._root.secrets),
            clock=self._root.clock,
            timeout=s.wallet_psp_timeout_seconds,
        )

    @cached_property
    def notifier(self) -> PaymentsNotifier:
        """Push's "payment received", the same notifier as the notice index's."""
        return self._root.notice_index_parts.notifier

    @cached_property
    def settlement(self) -> Settlement:
        s = self._root.settings
        crash = s.payments_crash_after_charge
        if crash and os.environ.get(AZURE_SITE):
            raise ConfigurationError("PAYMENTS_CRASH_AFTER_CHARGE is for local crash tests only")
        return Settlement(
            store=self.store,
            node=self.node,
            gateway=self.charges,
            wallet=self._root.wallet(),
            receipts=self.receipts,
            notifier=self.notifier,
            charge_psp_id=s.wallet_psp_id,
            after_charge=lambda: crash_hook(crash),
        )

    @cached_property
    def payments(self) -> Payments:
        s = self._root.settings
        policy = PaymentPolicy(
            node_psp_id=s.payments_psp_id,
            charge_psp_id=s.wallet_psp_id,
            stuck_after=timedelta(seconds=s.payments_stuck_seconds),
        )
        return Payments(
            store=self.store,
            node=self.node,
            wallet=self._root.wallet(),
            debtors=ArchiveDebtors(self._root.notices(), self._root.user_ids()),
            settlement=self.settlement,
            fees=parse_fees(s.payments_psp_fees),
            policy=policy,
        )
