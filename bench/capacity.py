"""The capacity and cost model of launch day: ``python -m bench.capacity`` writes
docs/capacity.md.

It reads the newest committed, dated benchmark results (bench/results/*.json: the CPU the app
spends per operation, measured here, and the Cosmos round trips each operation makes), the
launch-day load, Cosmos DB's documented request-unit costs and published prices (each with its
date and source, or marked as an assumption), and computes instances per function group, HTTP
per-instance concurrency, always-ready instances, RU/s per container, Service Bus messaging
units, the Notification Hubs tier, NAT Gateway ports and addresses, and the monthly cost at idle
and in the launch month. :func:`production_values` is what the production tfvars and Bicep
parameters must hold: tests/infra/test_capacity.py fails when they disagree, or when
docs/capacity.md is not this module's output.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "capacity.md"

HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Fact:
    """A number the model uses, where it comes from, and whether it is only an assumption."""

    value: float
    source: str
    assumption: bool = False


# ------------------------------------------------------------------------------ the load

LOAD = {
    # DESIGN.md: the IO app's wallet on the Italian state cashback's launch days, 7-9 Dec 2020.
    "wallet_peak_ops": Fact(14_000, "DESIGN.md: peaks of 14,000 wallet operations/s (Dec 2020)"),
    "http_average_rps": Fact(2_700, "DESIGN.md: ~2,700 requests/s on average (Dec 2020)"),
    "active_users": Fact(2_300_000, "DESIGN.md: 2.3 million active users (Dec 2020)"),
    "devices_per_user": Fact(1.2, "a citizen may install the app on a phone and a tablet", True),
    "push_peak_per_s": Fact(
        2_000, "outcome notices of onboardings and cashback, at the wallet's peak", True
    ),
    "cashback_tx_peak_per_s": Fact(1_000, "acquirers' transaction batches at their peak", True),
    "notice_writes_peak_per_s": Fact(500, "creditor institutions' single ACA writes", True),
    "bulk_positions_peak_per_s": Fact(2_000, "creditor institutions' bulk uploads", True),
    "standin_payments_peak_per_s": Fact(100, "payments while stations are in stand-in", True),
    "installations_peak_per_s": Fact(300, "devices registering for push at the peak", True),
    "peak_hours_per_month": Fact(36, "three launch days of twelve busy hours", True),
}

# The wallet's operations at its peak (shares of wallet_peak_ops): the launch was citizens adding
# and enabling cards. An onboarding is two operations (create, then the PSP's notification).
WALLET_MIX = Fact(0, "enrolment days: mostly listing and adding cards", True)
WALLET_SHARES = {"list": 0.45, "read": 0.20, "create": 0.125, "notification": 0.125, "delete": 0.10}

# ------------------------------------------------------------------------------ the platform

PLATFORM = {
    "instance_memory_mb": Fact(2048, "Flex Consumption's default instance size"),
    "instance_cores": Fact(
        1, "Flex Consumption docs (flex-consumption-plan.md): 2,048 MB instances get 1 core"
    ),
    "target_cpu": Fact(0.7, "keep instances at 70% of a core: room for bursts and GC", True),
    "cpu_speed_ratio": Fact(
        1.0, "an Azure core does what a core of the development machine does", True
    ),
    "regional_memory_quota_mb": Fact(
        512_000, "Flex Consumption docs: a subscription's default regional memory quota"
    ),
    "subnet_reserved_addresses": Fact(5, "Azure keeps 5 addresses of every subnet"),
    "zone_redundant_minimum": Fact(
        2,
        "Azure reliability guide for Functions: a zone-redundant Flex plan keeps at least two "
        "always-ready instances per scale group",
    ),
    "cosmos_rtt_ms": Fact(10, "an in-region Cosmos round trip (the SLA's read bound)", True),
    "psp_call_ms": Fact(150, "opening a session at the PSP (a remote HTTPS call)", True),
    "headroom_instances": Fact(
        3, "the maximum leaves 3x the computed peak: uneven load, cold starts, retries", True
    ),
    "headroom_throughput": Fact(1.25, "autoscale maxima leave 25% over the computed peak", True),
}

# Cosmos DB request units: documented for 1 KB and 100 KB items at Session consistency (docs
# "Optimize reads and writes cost": read 1 RU / 10 RUs, write 5 RUs / 50 RUs), linear between.
COSMOS = {
    "read_1kb": Fact(1, "Cosmos DB docs: a point read of a 1 KB item costs 1 RU"),
    "write_1kb": Fact(5, "Cosmos DB docs: writing a 1 KB item costs 5 RUs"),
    "read_100kb": Fact(10, "Cosmos DB docs: a point read of a 100 KB item costs 10 RUs"),
    "write_100kb": Fact(50, "Cosmos DB docs: writing a 100 KB item costs 50 RUs"),
    "query_base": Fact(3, "a single-partition query, before the items it returns", True),
    "partition_ru_limit": Fact(10_000, "DESIGN.md: 10,000 RU/s per logical partition"),
}

# Document sizes in KB (rounded up; writes and reads are costed by size).
SIZES = {
    "instrument": Fact(2, "a wallet instrument with its outbox and replay guard", True),
    "cashback": Fact(1, "a transaction record, a period state or a match document", True),
    "notice": Fact(2, "an ACA position with its event history", True),
    "standin": Fact(2, "a stand-in payment, station or counter document", True),
    "installation": Fact(1, "a push installation (tags, platform, token)", True),
}

PRICES_DATE = "2026-12-07"
PRICES = {
    "flex_on_demand_gb_s": Fact(
        0.000026,
        "Flex Consumption on-demand execution, per GB-s (East US; modal.com's Azure Functions "
        "pricing guide, 2025-05-22)",
    ),
    "flex_executions_million": Fact(
        0.40,
        "Flex Consumption executions, per million: the guide above was cut before this figure "
        "in the search corpora; the Azure Functions pricing page as remembered",
        True,
    ),
    "flex_always_ready_baseline_gb_s": Fact(
        0.000004,
        "Flex always-ready baseline, per GB-s: not found in the search corpora; the Azure "
        "Functions pricing page as remembered",
        True,
    ),
    "flex_always_ready_execution_gb_s": Fact(
        0.000016,
        "Flex always-ready execution, per GB-s: not found in the search corpora; the Azure "
        "Functions pricing page as remembered",
        True,
    ),
    "cosmos_autoscale_100rus_hour": Fact(
        0.012,
        "Cosmos DB autoscale, per 100 RU/s of the hour's peak per region, billed at 10% of the "
        "maximum or more (cloud-horizons.com, 2026-05-08: 1.5x the $0.008 manual rate)",
    ),
    "cosmos_storage_gb_month": Fact(
        0.25, "Cosmos DB transactional storage, per GB-month: not found; assumption", True
    ),
    "servicebus_premium_mu_month": Fact(
        677.0,
        "Service Bus Premium, per messaging unit-month (about $0.928/hour): the pricing page "
        "renders no figure in the search corpora; assumption",
        True,
    ),
    "servicebus_standard_month": Fact(10.0, "Service Bus Standard base charge: assumption", True),
    "notification_hubs_standard_month": Fact(
        200.0,
        "Notification Hubs Standard, per namespace-month, 10 M pushes included: assumption",
        True,
    ),
    "notification_hubs_push_million": Fact(
        10.0, "Notification Hubs Standard, per million pushes over 10 M: assumption", True
    ),
    "nat_gateway_hour": Fact(0.045, "NAT Gateway, per hour: assumption", True),
    "nat_gb": Fact(0.045, "NAT Gateway, per GB processed: assumption", True),
    "public_ip_hour": Fact(0.005, "Standard static public IP, per hour: assumption", True),
    "private_endpoint_hour": Fact(0.01, "a private endpoint, per hour: assumption", True),
}

# What the platform documents about the services' limits.
NH_DEVICES = {"Free": 500, "Basic": 200_000, "Standard": 10_000_000}
NH_DEVICES_SOURCE = "Notification Hubs pricing tiers: active devices per namespace"
LIMITS = {
    "servicebus_msgs_per_mu": Fact(
        4_000,
        "messages a Premium messaging unit moves per second (sends + receives, small messages)",
        True,
    ),
    "snat_ports_per_ip": Fact(64_512, "NAT Gateway docs: SNAT ports per public IP"),
}

# Outbound connections one instance of each group keeps (shared keep-alive sessions, DESIGN.md):
# what leaves through the NAT Gateway (Cosmos DB, Service Bus, storage and Key Vault go through
# private endpoints in production).
OUTBOUND = {
    "http": Fact(100 + 8, "the PSP session (limit 100) and JWKS/stations", True),
    "push_queue": Fact(4 * 32, "four Notification Hubs namespaces x PUSH_CONNECTOR_LIMIT 32"),
    "cashback_iban_check": Fact(100, "the bank check session (limit 100)", True),
    "other": Fact(8, "telemetry and the rest", True),
}

BUSIEST_QUEUE_FUNCTIONS = ("push_queue", "cashback_score", "cashback_wallet_events")


# ------------------------------------------------------------------------------ results


def results() -> tuple[Path, dict[str, Any]]:
    """The newest dated results file (bench/results/YYYY-MM-DD*.json)."""
    files = sorted(RESULTS.glob("*.json"))
    if not files:
        raise SystemExit("no benchmark results in bench/results")
    return files[-1], json.loads(files[-1].read_text())


def low(value: Any) -> float:
    """The conservative end of a measured range."""
    return float(min(value) if isinstance(value, list) else value)


def cpu_ms(per_second: Any) -> float:
    """CPU ms per operation of a phase that kept the dev host's one core busy."""
    return 1000.0 / low(per_second)


# ------------------------------------------------------------------------------ the model


def ru_read(kb: float) -> float:
    r1, r100 = COSMOS["read_1kb"].value, COSMOS["read_100kb"].value
    return r1 + (max(kb, 1) - 1) * (r100 - r1) / 99


def ru_write(kb: float) -> float:
    w1, w100 = COSMOS["write_1kb"].value, COSMOS["write_100kb"].value
    return w1 + (max(kb, 1) - 1) * (w100 - w1) / 99


@dataclass
class Operation:
    """One kind of work: its rate at the peak, where it runs, its CPU, its Cosmos cost."""

    name: str
    group: str  # "http" or the queue function's name
    peak_per_s: float
    cpu_ms: float
    cpu_source: str
    container: str | None
    ru: float
    latency_ms: float  # in Azure: CPU + round trips + remote calls
    messages: float = 0.0  # Service Bus messages it sends (each also received once)


def operations(bench: dict[str, Any]) -> list[Operation]:
    b = bench["benchmarks"]
    wallet_peak = LOAD["wallet_peak_ops"].value
    rtt = PLATFORM["cosmos_rtt_ms"].value
    speed = PLATFORM["cpu_speed_ratio"].value
    instrument = SIZES["instrument"].value
    read_ms = cpu_ms(b["wallet"]["read_requests_per_second"]) / speed
    delete_ms = cpu_ms(b["wallet"]["delete_requests_per_second"]) / speed
    sweep_ms = low(b["wallet"]["outbox_sweep_cpu_ms_per_outbox"]) / speed
    query = COSMOS["query_base"].value + 3 * ru_read(instrument)  # about 3 instruments each
    ops = [
        Operation(
            "wallet list",
            "http",
            wallet_peak * WALLET_SHARES["list"],
            read_ms,
            "assumed as the read's: one round trip (bench/wallet.py prints only its ratio)",
            "wallet",
            query,
            read_ms + rtt,
        ),
        Operation(
            "wallet read",
            "http",
            wallet_peak * WALLET_SHARES["read"],
            read_ms,
            "bench/wallet.py read",
            "wallet",
            ru_read(instrument),
            read_ms + rtt,
        ),
        Operation(
            "wallet create (PSP session)",
            "http",
            wallet_peak * WALLET_SHARES["create"],
            delete_ms,
            "assumed as the delete's: two round trips (bench/wallet.py prints only a ratio)",
            "wallet",
            query + ru_write(instrument),
            delete_ms + 2 * rtt + PLATFORM["psp_call_ms"].value,
        ),
        Operation(
            "wallet PSP notification",
            "http",
            wallet_peak * WALLET_SHARES["notification"],
            delete_ms,
            "assumed as the delete's: read + replace + event",
            "wallet",
            ru_read(instrument) + ru_write(instrument),
            delete_ms + 2 * rtt,
            messages=1,
        ),
        Operation(
            "wallet delete",
            "http",
            wallet_peak * WALLET_SHARES["delete"],
            delete_ms,
            "bench/wallet.py delete",
            "wallet",
            ru_read(instrument) + ru_write(instrument),
            delete_ms + 2 * rtt,
            messages=1,
        ),
    ]
    events = wallet_peak * (WALLET_SHARES["notification"] + WALLET_SHARES["delete"])
    ops += [
        Operation(
            "wallet outbox sweep",
            "sweep_outboxes",
            events,
            sweep_ms,
            "bench/wallet.py outbox sweep",
            "wallet",
            ru_write(instrument),
            sweep_ms + rtt,
        ),
        Operation(
            "cashback: wallet events",
            "cashback_wallet_events",
            events,
            cpu_ms(b["cashback"]["transactions_per_second"]) / speed,
            "assumed as a scored transaction's (two writes)",
            "cashback",
            2 * ru_write(SIZES["cashback"].value),
            2 * rtt,
        ),
        Operation(
            "cashback: transactions scored",
            "cashback_score",
            LOAD["cashback_tx_peak_per_s"].value,
            cpu_ms(b["cashback"]["transactions_per_second"]) / speed,
            "bench/cashback.py",
            "cashback",
            b["cashback"]["round_trips_per_transaction"] * ru_write(SIZES["cashback"].value),
            2 * rtt,
            messages=1,
        ),
        Operation(
            "notices: single ACA writes",
            "http",
            LOAD["notice_writes_peak_per_s"].value,
            cpu_ms(b["notices"]["single_writes_per_second"]) / speed,
            "bench/notices.py",
            "notices",
            ru_write(SIZES["notice"].value),
            rtt,
        ),
        Operation(
            "notices: bulk positions",
            "notices_bulk_chunk",
            LOAD["bulk_positions_peak_per_s"].value,
            cpu_ms(b["notices"]["bulk_positions_per_second"]) / speed,
            "bench/notices.py bulk",
            "notices",
            low(b["notices"]["bulk_round_trips_per_position"]) * ru_write(SIZES["notice"].value),
            rtt,
            messages=1 / 500,  # one chunk message per NOTICES_BULK_CHUNK_LINES
        ),
    ]
    standin = b["standin"]
    per_request = cpu_ms(standin["payments_per_second"]) / standin["requests_per_payment"]
    ops.append(
        Operation(
            "stand-in payment requests",
            "http",
            LOAD["standin_payments_peak_per_s"].value * standin["requests_per_payment"],
            per_request / speed,
            "bench/standin.py (a payment is three requests)",
            "standin",
            (4 * ru_read(SIZES["standin"].value) + 3 * ru_write(SIZES["standin"].value))
            / standin["requests_per_payment"],
            per_request + 3 * rtt,
            messages=1 / standin["requests_per_payment"],
        )
    )
    ops += [
        Operation(
            "push installations",
            "http",
            LOAD["installations_peak_per_s"].value,
            read_ms,
            "assumed as a wallet read's (one write, one Notification Hubs call)",
            "push_installations",
            ru_write(SIZES["installation"].value),
            read_ms + 2 * rtt,
        ),
        Operation(
            "push notifications sent",
            "push_queue",
            LOAD["push_peak_per_s"].value,
            cpu_ms(b["push"]["notifications_per_second"]) / speed,
            "bench/push.py",
            None,
            0,
            50,
            messages=1,
        ),
    ]
    return ops


@dataclass
class Model:
    results_file: str
    measured_on: str
    ops: list[Operation]
    instances: dict[str, int]  # per group, at the peak
    average_instances: dict[str, int]
    http_concurrency: int
    http_per_instance_rps: float
    http_latency_ms: float
    maximum_instances: int
    quota_instances: int
    quota_needed_mb: int
    always_ready: dict[str, int]
    subnet_prefix: int
    container_rus: dict[str, float]
    container_max: dict[str, int]
    shared_max: int
    messages_per_s: float
    messaging_units: int
    hub_partitions: int
    hub_sku: str
    nat_connections: int
    nat_ips: int
    costs: dict[str, tuple[float, float]]  # item -> (idle month, launch month)


def ceil_to(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def power_of_two_at_least(value: float, allowed: tuple[int, ...]) -> int:
    return next((a for a in allowed if a >= value), allowed[-1])


def build() -> Model:
    path, bench = results()
    ops = operations(bench)
    cores = PLATFORM["instance_cores"].value * PLATFORM["target_cpu"].value
    groups = sorted({op.group for op in ops})
    busy = {g: sum(op.peak_per_s * op.cpu_ms for op in ops if op.group == g) / 1000 for g in groups}
    instances = {g: max(1, math.ceil(busy[g] / cores)) for g in groups}

    # Little's law: what one instance serves at its target CPU, times how long a request takes.
    http = [op for op in ops if op.group == "http"]
    rate = sum(op.peak_per_s for op in http)
    cpu = sum(op.peak_per_s * op.cpu_ms for op in http) / rate
    latency = sum(op.peak_per_s * op.latency_ms for op in http) / rate
    per_instance = 1000 * cores / cpu
    concurrency = math.ceil(per_instance * latency / 1000)

    average_share = LOAD["http_average_rps"].value / rate
    average = {g: max(1, math.ceil(instances[g] * average_share)) for g in groups}

    memory = PLATFORM["instance_memory_mb"].value
    quota_instances = int(PLATFORM["regional_memory_quota_mb"].value // memory)
    peak_total = sum(instances.values())
    maximum = min(quota_instances, ceil_to(peak_total * PLATFORM["headroom_instances"].value, 10))
    minimum = int(PLATFORM["zone_redundant_minimum"].value)
    always_ready = {"http": max(minimum, average["http"])}
    for name in BUSIEST_QUEUE_FUNCTIONS:
        always_ready[f"function:{name}"] = max(minimum, average[name])
    needed = 2 * maximum + PLATFORM["subnet_reserved_addresses"].value
    subnet_prefix = 32 - math.ceil(math.log2(needed))

    container_rus: dict[str, float] = {}
    for op in ops:
        if op.container:
            container_rus[op.container] = container_rus.get(op.container, 0) + op.peak_per_s * op.ru
    headroom = PLATFORM["headroom_throughput"].value
    dedicated = {"wallet", "cashback", "notices", "standin"}
    container_max = {
        c: max(1000, ceil_to(container_rus[c] * headroom, 1000))
        for c in sorted(container_rus)
        if c in dedicated
    }
    shared_rus = sum(v for c, v in container_rus.items() if c not in dedicated)
    shared_max = max(1000, ceil_to(shared_rus * headroom, 1000))

    messages = sum(op.peak_per_s * op.messages for op in ops)
    units = power_of_two_at_least(
        2 * messages / LIMITS["servicebus_msgs_per_mu"].value, (1, 2, 4, 8, 16)
    )

    devices = LOAD["active_users"].value * LOAD["devices_per_user"].value
    partitions = 4  # the production partitions (digits 0-3, 4-7, 8-b, c-f): an input
    per_namespace = devices / partitions
    sku = next(s for s, limit in NH_DEVICES.items() if limit >= per_namespace)

    connections = instances["http"] * OUTBOUND["http"].value
    connections += instances["push_queue"] * OUTBOUND["push_queue"].value
    connections += instances.get("cashback_iban_check", 1) * OUTBOUND["cashback_iban_check"].value
    connections += peak_total * OUTBOUND["other"].value
    ips = max(1, math.ceil(2 * connections / LIMITS["snat_ports_per_ip"].value))

    costs = monthly_costs(
        ops,
        instances,
        average,
        always_ready,
        container_max,
        shared_max,
        units,
        sku,
        partitions,
        ips,
    )
    return Model(
        results_file=path.relative_to(ROOT).as_posix(),
        measured_on=str(bench["measured_on"]),
        ops=ops,
        instances=instances,
        average_instances=average,
        http_concurrency=concurrency,
        http_per_instance_rps=per_instance,
        http_latency_ms=latency,
        maximum_instances=maximum,
        quota_instances=quota_instances,
        quota_needed_mb=ceil_to(peak_total * PLATFORM["headroom_instances"].value * memory, 1000),
        always_ready=always_ready,
        subnet_prefix=subnet_prefix,
        container_rus=container_rus,
        container_max=container_max,
        shared_max=shared_max,
        messages_per_s=messages,
        messaging_units=units,
        hub_partitions=partitions,
        hub_sku=sku,
        nat_connections=int(connections),
        nat_ips=ips,
        costs=costs,
    )


def monthly_costs(
    ops: list[Operation],
    instances: dict[str, int],
    average: dict[str, int],
    always_ready: dict[str, int],
    container_max: dict[str, int],
    shared_max: int,
    units: int,
    sku: str,
    partitions: int,
    ips: int,
) -> dict[str, tuple[float, float]]:
    p = {k: f.value for k, f in PRICES.items()}
    gb = PLATFORM["instance_memory_mb"].value / 1024
    seconds = HOURS_PER_MONTH * 3600
    peak_hours = LOAD["peak_hours_per_month"].value
    ready = sum(always_ready.values())
    baseline = ready * gb * seconds * p["flex_always_ready_baseline_gb_s"]
    # Launch month: the peak for its busy hours, the average load for the rest; instances busy
    # all that time (a conservative reading of "active execution").
    busy_gb_s = (
        gb
        * 3600
        * (
            peak_hours * sum(instances.values())
            + (HOURS_PER_MONTH - peak_hours) * sum(average.values())
        )
    )
    executions = sum(op.peak_per_s for op in ops) * 3600 * peak_hours + LOAD[
        "http_average_rps"
    ].value * 3600 * (HOURS_PER_MONTH - peak_hours)
    flex_peak = (
        baseline
        + busy_gb_s * p["flex_on_demand_gb_s"]
        + executions / 1e6 * p["flex_executions_million"]
    )
    regions = 2
    ru_price = p["cosmos_autoscale_100rus_hour"] * regions / 100
    maxima = sum(container_max.values()) + shared_max
    cosmos_idle = 0.1 * maxima * ru_price * HOURS_PER_MONTH
    cosmos_peak = maxima * ru_price * peak_hours + 0.3 * maxima * ru_price * (
        HOURS_PER_MONTH - peak_hours
    )
    servicebus = units * p["servicebus_premium_mu_month"]
    hubs_idle = partitions * p["notification_hubs_standard_month"] if sku == "Standard" else 0.0
    pushes = LOAD["push_peak_per_s"].value * 3600 * peak_hours
    hubs_peak = (
        hubs_idle + max(0.0, pushes / 1e6 - 10 * partitions) * p["notification_hubs_push_million"]
    )
    nat = (p["nat_gateway_hour"] + ips * p["public_ip_hour"]) * HOURS_PER_MONTH
    nat_peak = nat + 500 * p["nat_gb"]  # about 500 GB of pushes and partner calls that month
    endpoints = 6 * p["private_endpoint_hour"] * HOURS_PER_MONTH
    return {
        "Functions (Flex Consumption)": (baseline, flex_peak),
        "Cosmos DB (autoscale, 2 regions)": (cosmos_idle, cosmos_peak),
        "Service Bus Premium": (servicebus, servicebus),
        "Notification Hubs": (hubs_idle, hubs_peak),
        "NAT Gateway + public IP": (nat, nat_peak),
        "Private endpoints (6)": (endpoints, endpoints),
    }


def production_values(model: Model | None = None) -> dict[str, Any]:
    """What infra/terraform/environments/prod.tfvars (and prod.parameters.json) must say."""
    m = model or build()
    keys = {"wallet": "wallet", "cashback": "cashback", "notices": "notices", "standin": "standin"}
    return {
        "function_instance_memory_mb": int(PLATFORM["instance_memory_mb"].value),
        "function_maximum_instances": m.maximum_instances,
        "function_memory_quota_mb": int(PLATFORM["regional_memory_quota_mb"].value),
        "function_http_per_instance_concurrency": m.http_concurrency,
        "function_always_ready": dict(sorted(m.always_ready.items())),
        "functions_subnet_prefix_length": m.subnet_prefix,
        "cosmos_autoscale_max_throughput": m.shared_max,
        "cosmos_container_autoscale_max_throughput": {
            keys[c]: v for c, v in sorted(m.container_max.items())
        },
        "servicebus_premium_messaging_units": m.messaging_units,
        "notification_hubs_sku": m.hub_sku,
    }


# ------------------------------------------------------------------------------ the page


def money(value: float) -> str:
    return f"{value:,.0f}"


def fact_rows(facts: dict[str, Fact]) -> list[str]:
    rows = []
    for name, fact in facts.items():
        kind = "**assumption**" if fact.assumption else "documented / measured"
        rows.append(f"| `{name}` | {fact.value:,} | {kind} | {fact.source} |")
    return rows


def render(m: Model) -> str:
    lines = [
        "# Capacity and cost on launch day",
        "",
        "Written by `python -m bench.capacity` (bench/capacity.py): do not edit by hand.",
        "tests/infra/test_capacity.py fails when this page is not its output, or when the",
        "production values of the IaC (infra/terraform/environments/prod.tfvars,",
        "infra/bicep/environments/prod.parameters.json) disagree with it.",
        "",
        f"- Benchmark results: `{m.results_file}`, measured on {m.measured_on} on the two-core",
        "  development machine (CPU per operation = one core / the phase's rate, the low end",
        "  of each measured range).",
        f"- Prices: as stated on {PRICES_DATE}, with their sources below; those not found in",
        "  the search corpora are marked as assumptions. Check them with the Azure pricing",
        "  calculator before relying on a figure.",
        "",
        "## The load",
        "",
        "| name | value | kind | source |",
        "| --- | --- | --- | --- |",
        *fact_rows(LOAD),
        "",
        f"Wallet operations at the peak ({WALLET_MIX.source}, an **assumption**): "
        + ", ".join(f"{k} {v:.1%}" for k, v in WALLET_SHARES.items())
        + ".",
        "",
        "## Operations at the peak",
        "",
        "| operation | runs in | per second | CPU ms | CPU from | container | RU each |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for op in m.ops:
        lines.append(
            f"| {op.name} | `{op.group}` | {op.peak_per_s:,.0f} | {op.cpu_ms:.2f} | "
            f"{op.cpu_source} | {op.container or '-'} | {op.ru:.1f} |"
        )
    cores = PLATFORM["instance_cores"].value * PLATFORM["target_cpu"].value
    lines += [
        "",
        "## Instances",
        "",
        f"One instance of {PLATFORM['instance_memory_mb'].value:,.0f} MB has "
        f"{PLATFORM['instance_cores'].value:g} core, used to {PLATFORM['target_cpu'].value:.0%}: "
        f"{cores:g} core-seconds of work per second. Flex scales the HTTP functions together "
        "and every other function on its own (`function:<name>`).",
        "",
        "| scale group | instances at the peak | at the average load |",
        "| --- | --- | --- |",
        *(f"| `{g}` | {m.instances[g]} | {m.average_instances[g]} |" for g in sorted(m.instances)),
        f"| **total** | **{sum(m.instances.values())}** | {sum(m.average_instances.values())} |",
        "",
        f"- **HTTP per-instance concurrency: {m.http_concurrency}.** An instance at its target "
        f"CPU serves {m.http_per_instance_rps:,.0f} requests/s; a request takes "
        f"{m.http_latency_ms:.1f} ms in Azure on average (its CPU, its Cosmos round trips, the "
        "PSP call of an onboarding): Little's law gives the requests in flight. Python's "
        "default on Flex is one request per instance.",
        f"- **Maximum instances: {m.maximum_instances}**: "
        f"{PLATFORM['headroom_instances'].value:g}x the peak total, capped by the default "
        f"regional memory quota ({PLATFORM['regional_memory_quota_mb'].value:,.0f} MB = "
        f"{m.quota_instances} instances of {PLATFORM['instance_memory_mb'].value:,.0f} MB). "
        + (
            "The launch needs no quota increase. "
            if m.maximum_instances < m.quota_instances
            else f"**Ask for more quota** (infra/README.md): {m.quota_needed_mb:,} MB. "
        )
        + "To go past the quota later, request it first (infra/README.md), then raise "
        "`function_memory_quota_mb` and the maximum.",
        f"- **Integration subnet: /{m.subnet_prefix}** (2 x maximum + 5 addresses).",
        "- **Always ready**: "
        + ", ".join(f"`{k}` {v}" for k, v in sorted(m.always_ready.items()))
        + f": the average load's instances, at least {PLATFORM['zone_redundant_minimum'].value:g} "
        "(a zone-redundant plan keeps two per group anyway).",
        "",
        "## Cosmos DB",
        "",
        "Request units per operation from the documented costs (read 1 RU and write 5 RUs per "
        "1 KB item, 10 and 50 per 100 KB, linear between; Session consistency), the document "
        "sizes below and the round trips the benchmarks count.",
        "",
        "| container | RU/s at the peak | autoscale maximum |",
        "| --- | --- | --- |",
        *(
            f"| {c} | {m.container_rus[c]:,.0f} | "
            + (f"{m.container_max[c]:,}" if c in m.container_max else "(shared)")
            + " |"
            for c in sorted(m.container_rus)
        ),
        f"| the others (shared by the database) | "
        f"{sum(v for c, v in m.container_rus.items() if c not in m.container_max):,.0f} | "
        f"{m.shared_max:,} |",
        "",
        "Every hot path is a point read or a single-partition query on a citizen's partition, "
        f"far below the {COSMOS['partition_ru_limit'].value:,.0f} RU/s a logical partition takes.",
        "",
        "| document | KB | kind | source |",
        "| --- | --- | --- | --- |",
        *(
            f"| {name} | {f.value:g} | {'**assumption**' if f.assumption else 'measured'} | "
            f"{f.source} |"
            for name, f in SIZES.items()
        ),
        "",
        "## Service Bus, Notification Hubs, NAT",
        "",
        f"- Messages at the peak: {m.messages_per_s:,.0f}/s sent, as many received: "
        f"**{m.messaging_units} Premium messaging units** at "
        f"{LIMITS['servicebus_msgs_per_mu'].value:,.0f} messages/s each (an **assumption**: "
        "Microsoft publishes no fixed figure; measure it on the namespace).",
        f"- Devices: {LOAD['active_users'].value * LOAD['devices_per_user'].value:,.0f} over "
        f"{m.hub_partitions} partitions: **Notification Hubs {m.hub_sku}** "
        f"({NH_DEVICES_SOURCE}: " + ", ".join(f"{k} {v:,}" for k, v in NH_DEVICES.items()) + ").",
        f"- Outbound connections through the NAT Gateway at the peak: about "
        f"{m.nat_connections:,} (keep-alive sessions per instance: "
        + "; ".join(f"{k} {f.value:g} ({f.source})" for k, f in OUTBOUND.items())
        + f"): **{m.nat_ips} public IP** at "
        f"{LIMITS['snat_ports_per_ip'].value:,.0f} SNAT ports each, half kept free.",
        "",
        "## Monthly cost (USD)",
        "",
        "| item | idle month | launch month |",
        "| --- | --- | --- |",
        *(f"| {k} | {money(a)} | {money(b)} |" for k, (a, b) in m.costs.items()),
        f"| **total** | **{money(sum(a for a, _ in m.costs.values()))}** | "
        f"**{money(sum(b for _, b in m.costs.values()))}** |",
        "",
        "Storage, Key Vault, Log Analytics and Application Insights are billed by volume and",
        "left out. Idle: the always-ready baseline, Cosmos DB at 10% of its maxima, the fixed",
        "charges. Launch month: the peak for its busy hours, the average load the rest (Cosmos",
        "DB at 30% of its maxima then).",
        "",
        "## Platform facts and prices",
        "",
        "| name | value | kind | source |",
        "| --- | --- | --- | --- |",
        *fact_rows(PLATFORM),
        *fact_rows(COSMOS),
        *fact_rows(PRICES),
        "",
        "## What the production IaC holds",
        "",
        "```json",
        json.dumps(production_values(m), indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    model = build()
    page = render(model)
    if "--check" in argv:
        current = DOC.read_text() if DOC.exists() else ""
        if current != page:
            print("docs/capacity.md is stale: run python -m bench.capacity")
            return 1
        return 0
    DOC.write_text(page)
    print(f"wrote {DOC.relative_to(ROOT)}")
    print(json.dumps(production_values(model), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
