"""The wallet, wired for :class:`functions.root.Root` (apart, so the composition root stays one
screen per capability): its store, the PSP gateway's client on the shared keep-alive session,
its policy from the settings."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from shared.platform.clients import SessionSpec
from shared.wallet.core import WalletPolicy
from shared.wallet.psp import HttpPspGateway, RegistryPspSecrets
from shared.wallet.reference import WalletIds
from shared.wallet.service import Wallet
from shared.wallet.store import CosmosWalletStore

if TYPE_CHECKING:
    from functions.root import Root


def build_wallet(root: Root) -> Wallet:
    """The wallet of ``root`` (built once per process by :attr:`Root._wallet`)."""
    s = root.settings
    secrets = RegistryPspSecrets(root.parties(), root.secrets)
    spec = SessionSpec(
        limit=100,
        limit_per_host=100,
        total_timeout=s.wallet_psp_timeout_seconds,
        connect_timeout=min(3.0, s.wallet_psp_timeout_seconds),
    )
    psp = HttpPspGateway(
        lambda: root.clients.session("psp", spec),
        base_url=s.wallet_psp_base_url,
        secrets=secrets,
        clock=root.clock,
        timeout=s.wallet_psp_timeout_seconds,
    )
    policy = WalletPolicy(
        psp_id=s.wallet_psp_id,
        return_url=s.wallet_return_url,
        session_window=timedelta(minutes=s.wallet_session_minutes),
        max_instruments=s.wallet_max_instruments,
        events_queue=s.wallet_events_queue,
        notification_url=s.wallet_notification_url,
    )
    store = CosmosWalletStore(root.clients.container(s.wallet_container), s.cosmos_timeout_seconds)
    return Wallet(
        store=store,
        psp=psp,
        wallet_ids=WalletIds(root.secrets),
        publisher=root.outbox("wallet_container"),
        policy=policy,
    )
