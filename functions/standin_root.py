"""The stand-in's parts, wired for :class:`functions.root.Root` (kept apart so the composition
root stays one screen per capability): its store, the registry's stations and the SOAP client
that calls them, the gateway PSPs pay through, the node's channels and endpoint, the manager and
the receipts' delivery, each built once per process."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from shared.platform.clients import SessionSpec
from shared.standin.channels import Channels
from shared.standin.gateway import Gateway, GatewayPolicy
from shared.standin.manager import Manager, StationStates
from shared.standin.node import Node
from shared.standin.receipts import Receipts
from shared.standin.rules import Thresholds
from shared.standin.soapstation import SoapStationClient
from shared.standin.stations import Stations
from shared.standin.store import CosmosStandInStore
from shared.standin.traffic import Traffic

if TYPE_CHECKING:
    from functions.root import Root


class StandInParts:
    """Built once per process by :attr:`functions.root.Root.standin`."""

    def __init__(self, root: Root) -> None:
        self._root = root

    @cached_property
    def store(self) -> CosmosStandInStore:
        s = self._root.settings
        return CosmosStandInStore(
            self._root.clients.container(s.standin_container), s.cosmos_timeout_seconds
        )

    @cached_property
    def stations(self) -> Stations:
        return Stations(self._root.parties())

    @cached_property
    def station_client(self) -> SoapStationClient:
        s = self._root.settings
        spec = SessionSpec(
            limit=100,
            limit_per_host=32,
            keepalive_timeout=60.0,
            total_timeout=s.standin_station_timeout_seconds,
            connect_timeout=min(3.0, s.standin_station_timeout_seconds),
        )
        return SoapStationClient(
            lambda: self._root.clients.session("stations", spec),
            self._root.secrets,
            timeout=s.standin_station_timeout_seconds,
        )

    @cached_property
    def station_states(self) -> StationStates:
        return StationStates(self.store)

    @cached_property
    def gateway(self) -> Gateway:
        s = self._root.settings
        policy = GatewayPolicy(
            token_lifetime=timedelta(minutes=s.standin_token_minutes),
            receipts_queue=s.standin_receipts_queue,
        )
        return Gateway(
            self.store,
            self._root.notices(),
            self.stations,
            self.station_client,
            Traffic(self.store),
            self.station_states,
            self._root.outbox("standin_container"),
            policy,
        )

    @cached_property
    def channels(self) -> Channels:
        return Channels(self.store, self._root.parties())

    @cached_property
    def node(self) -> Node:
        return Node(self.channels, self.gateway)

    @cached_property
    def manager(self) -> Manager:
        s = self._root.settings
        thresholds = Thresholds(
            window=timedelta(minutes=s.standin_window_minutes),
            fault_rate=s.standin_fault_rate,
            faulty_slots=s.standin_faulty_slots,
            day_share=s.standin_day_traffic_share,
            night_share=s.standin_night_traffic_share,
            excluded=s.standin_excluded_stations,
        )
        return Manager(
            self.store,
            self.stations,
            self.station_client,
            self.station_states,
            thresholds,
            journal=(self._root.settings.journal_queue, self._root.outbox("standin_container")),
        )

    @cached_property
    def receipts(self) -> Receipts:
        lease = timedelta(seconds=2 * self._root.settings.standin_station_timeout_seconds + 5)
        return Receipts(
            self.store,
            self._root.notices(),
            self.stations,
            self.station_client,
            lease=lease,
            journal=self._root.journal,
        )
