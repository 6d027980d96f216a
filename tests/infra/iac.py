"""Both IaC flavours, evaluated for one environment, read into one shape.

Terraform (through python-hcl2's parse and :mod:`tests.infra.terraform_model`) and Bicep
(through :mod:`tests.infra.bicep_model`) are evaluated resource by resource; a
:class:`Deployed` then answers the questions the parity checks ask (which containers, with
which partition key; which queues; which app settings, pointing at what; which roles, on what)
from the resources themselves, in ARM's vocabulary, so the two flavours compare like with like.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.infra import bicep_model
from tests.infra.expressions import ExpressionError, Unknown
from tests.infra.terraform_model import Declared as TfDeclared
from tests.infra.terraform_model import Terraform, evaluate_raw

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TOOLS = ROOT / ".venv-tools"

# azurerm resource types as the ARM types they create (inline blocks that are separate ARM
# resources count too). azapi resources name their ARM type themselves.
AZURERM_ARM_TYPES: dict[str, tuple[str, ...]] = {
    "azurerm_resource_group": ("Microsoft.Resources/resourceGroups",),
    "azurerm_user_assigned_identity": ("Microsoft.ManagedIdentity/userAssignedIdentities",),
    "azurerm_log_analytics_workspace": ("Microsoft.OperationalInsights/workspaces",),
    "azurerm_application_insights": ("Microsoft.Insights/components",),
    "azurerm_storage_account": (
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/blobServices",
    ),
    "azurerm_storage_container": ("Microsoft.Storage/storageAccounts/blobServices/containers",),
    "azurerm_storage_management_policy": ("Microsoft.Storage/storageAccounts/managementPolicies",),
    "azurerm_cosmosdb_account": ("Microsoft.DocumentDB/databaseAccounts",),
    "azurerm_cosmosdb_sql_database": ("Microsoft.DocumentDB/databaseAccounts/sqlDatabases",),
    "azurerm_cosmosdb_sql_container": (
        "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
    ),
    "azurerm_cosmosdb_sql_role_assignment": (
        "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments",
    ),
    "azurerm_servicebus_namespace": ("Microsoft.ServiceBus/namespaces",),
    "azurerm_servicebus_queue": ("Microsoft.ServiceBus/namespaces/queues",),
    "azurerm_key_vault": ("Microsoft.KeyVault/vaults",),
    "azurerm_notification_hub_namespace": ("Microsoft.NotificationHubs/namespaces",),
    "azurerm_notification_hub_authorization_rule": (
        "Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules",
    ),
    "azurerm_role_assignment": ("Microsoft.Authorization/roleAssignments",),
    "azurerm_eventgrid_system_topic": ("Microsoft.EventGrid/systemTopics",),
    "azurerm_eventgrid_system_topic_event_subscription": (
        "Microsoft.EventGrid/systemTopics/eventSubscriptions",
    ),
    "azurerm_virtual_network": ("Microsoft.Network/virtualNetworks",),
    # Bicep declares subnets (and their NAT Gateway) inline in the virtual network.
    "azurerm_subnet": ("Microsoft.Network/virtualNetworks",),
    "azurerm_subnet_nat_gateway_association": ("Microsoft.Network/virtualNetworks",),
    "azurerm_public_ip": ("Microsoft.Network/publicIPAddresses",),
    "azurerm_nat_gateway": ("Microsoft.Network/natGateways",),
    "azurerm_nat_gateway_public_ip_association": ("Microsoft.Network/natGateways",),
    "azurerm_private_dns_zone": ("Microsoft.Network/privateDnsZones",),
    "azurerm_private_dns_zone_virtual_network_link": (
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    ),
    "azurerm_private_endpoint": (
        "Microsoft.Network/privateEndpoints",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    ),
    "azurerm_monitor_diagnostic_setting": ("Microsoft.Insights/diagnosticSettings",),
    "azurerm_monitor_action_group": ("Microsoft.Insights/actionGroups",),
    "azurerm_monitor_metric_alert": ("Microsoft.Insights/metricAlerts",),
    "azurerm_monitor_scheduled_query_rules_alert_v2": ("Microsoft.Insights/scheduledQueryRules",),
    "azurerm_application_insights_standard_web_test": ("Microsoft.Insights/webtests",),
}

# azurerm attribute names as the ARM property paths they read.
TF_ATTRIBUTES = {
    "endpoint": "properties.documentEndpoint",
    "vault_uri": "properties.vaultUri",
    "client_id": "properties.clientId",
    "principal_id": "properties.principalId",
    "connection_string": "properties.ConnectionString",
    "primary_blob_endpoint": "properties.primaryEndpoints.blob",
    "ip_address": "properties.ipAddress",
}

# Built-in Azure role definition ids: the same in every tenant (Microsoft's "Azure built-in
# roles" page, and Cosmos DB's own "Built-in Data Contributor" of its data-plane RBAC).
BUILT_IN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
}
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Ref:
    """What a value known only after deployment points at: a resource and one of its
    properties, in ARM's vocabulary."""

    type: str
    name: str
    attribute: str


@dataclass(frozen=True)
class Input:
    default: Any
    required: bool
    secret: bool


@dataclass
class Container:
    account: str
    database: str
    partition_key_paths: list[str]
    default_ttl: Any
    unique_keys: list[list[str]]
    autoscale_max: int | None


@dataclass
class Queue:
    namespace: str
    max_delivery_count: Any
    lock_duration: Any
    requires_duplicate_detection: Any
    duplicate_window: Any
    dead_lettering_on_expiry: Any


@dataclass
class Grant:
    role_id: str
    scope: Ref | None
    principal: Ref | None


@dataclass
class HubRule:
    namespace: str
    hub: str
    name: str
    rights: frozenset[str]


@dataclass
class Subnet:
    vnet: str
    prefix: str
    nat_gateway: str | None
    delegation: str | None


@dataclass
class Deployed:
    """What one flavour would create in one environment."""

    flavour: str
    environment: str
    values: dict[str, Any]  # every input's value, snake_case names
    resource_types: set[str] = field(default_factory=set)
    site: dict[str, Any] = field(default_factory=dict)  # ARM body of Microsoft.Web/sites
    site_identities: list[Ref | None] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)  # ARM body of Microsoft.Web/serverfarms
    app_settings: dict[str, Any] = field(default_factory=dict)
    site_prerequisites: set[str] = field(default_factory=set)  # ARM types the site waits for
    cosmos_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    cosmos_databases: dict[str, dict[str, Any]] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    storage_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    blob_containers: dict[str, str] = field(default_factory=dict)  # name -> account
    blob_expiry: dict[str, int] = field(default_factory=dict)  # container -> days (lifecycle)
    grants: list[Grant] = field(default_factory=list)
    identities: set[str] = field(default_factory=set)
    hub_rules: list[HubRule] = field(default_factory=list)
    hubs: dict[str, str] = field(default_factory=dict)  # hub -> namespace
    key_vaults: set[str] = field(default_factory=set)
    vault_secrets: dict[str, str] = field(default_factory=dict)  # secret -> vault
    subnets: dict[str, Subnet] = field(default_factory=dict)
    nat_gateways: dict[str, list[str]] = field(default_factory=dict)  # -> public IPs
    private_endpoints: dict[str, str] = field(default_factory=dict)  # name -> subresource
    dns_links: set[str] = field(default_factory=set)  # private DNS zones linked to a VNet
    outputs: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Ref | None] = field(default_factory=dict)  # app setting -> what it reads
    alerts: list[dict[str, Any]] = field(default_factory=list)  # metric alert criteria
    kinds: set[str] = field(default_factory=set)  # Terraform: the provider resource types used
    resolver: Callable[[Any], Ref | None] | None = None  # what any unknown value points at


# ------------------------------------------------------------------------------------ helpers


def _expiry(deployed: Deployed, enabled: Any, prefixes: list[str], days: Any) -> None:
    """A lifecycle rule deleting the blobs under ``prefixes`` (``<container>/``) ``days`` after
    their last change."""
    if enabled is False:
        return
    for prefix in prefixes:
        deployed.blob_expiry[str(prefix).split("/", 1)[0]] = days


def snake(name: str) -> str:
    """Bicep's camelCase parameter name as Terraform's snake_case variable name."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def text(value: Any) -> str:
    return str(value) if isinstance(value, Unknown) else json.dumps(value, default=str)


def role_id(value: Any) -> str:
    found = GUID.findall(text(value))
    return found[-1] if found else f"(no role id in {text(value)})"


def settings_list(raw: Any) -> dict[str, Any]:
    """An ARM ``appSettings`` list as name -> value."""
    return {item["name"]: item["value"] for item in raw or []}


# ------------------------------------------------------------------------------------ Terraform


class TerraformReader:
    def __init__(self, model: Terraform) -> None:
        self.model = model
        self.declared = list(model.declared())
        self.by_address = {d.address: d for d in self.declared}

    def arm_type(self, declared: TfDeclared) -> str:
        if declared.kind.startswith("azapi_"):
            return str(declared.arguments["type"]).split("@")[0]
        return AZURERM_ARM_TYPES.get(declared.kind, (f"(no ARM type known for {declared.kind})",))[
            0
        ]

    def ref(self, value: Any) -> Ref | None:
        if not isinstance(value, Unknown):
            return None
        match = re.fullmatch(
            r'((?:data\.)?[a-z0-9_]+\.[a-z0-9_]+(?:\[(?:"[^"]*"|\d+)\])?)\.(.+)', value.text
        )
        if not match:
            return None
        address, attribute = match.groups()
        if address.startswith("data."):
            return Ref(address, "", attribute)
        declared = self.by_address.get(address)
        if declared is None:
            return Ref(f"(undeclared {address})", "", attribute)
        attribute = attribute.removeprefix("output.")
        return Ref(
            self.arm_type(declared),
            str(declared.arguments.get("name", "")),
            TF_ATTRIBUTES.get(attribute, attribute),
        )

    def of(self, kind: str) -> Iterator[TfDeclared]:
        return (d for d in self.declared if d.kind == kind)

    def azapi(self, arm_type: str) -> Iterator[TfDeclared]:
        return (
            d
            for d in self.declared
            if d.kind in ("azapi_resource",) and str(d.arguments["type"]).startswith(arm_type + "@")
        )

    def read(self, deployed: Deployed) -> None:
        for declared in self.declared:
            if declared.kind.startswith("azapi_"):
                if declared.kind == "azapi_resource":
                    deployed.resource_types.add(self.arm_type(declared))
                else:
                    deployed.resource_types.add(str(declared.arguments["type"]).split("@")[0])
            else:
                deployed.resource_types.update(
                    AZURERM_ARM_TYPES.get(
                        declared.kind, (f"(no ARM type known for {declared.kind})",)
                    )
                )
        for site in self.azapi("Microsoft.Web/sites"):
            deployed.site = {
                **site.arguments["body"],
                "name": site.arguments["name"],
                "tags": site.arguments.get("tags"),
            }
            deployed.app_settings = settings_list(
                deployed.site["properties"]["siteConfig"].get("appSettings")
            )
            deployed.site_identities = [
                self.ref(i)
                for identity in site.arguments.get("identity", [])
                for i in identity.get("identity_ids", [])
            ]
            implicit = set(
                re.findall(
                    r"((?:azurerm|azapi)_[a-z_]+\.[a-z_]+)\b",
                    json.dumps(self.model.resources[("azapi_resource", site.name)]),
                )
            )
            for address in {*site.depends_on, *implicit}:
                kind, name = address.split(".")
                if kind.startswith("azapi_"):
                    for instance in self.declared:
                        if instance.kind == kind and instance.name == name:
                            deployed.site_prerequisites.add(self.arm_type(instance))
                else:
                    deployed.site_prerequisites.update(AZURERM_ARM_TYPES.get(kind, (kind,)))
        for plan in self.azapi("Microsoft.Web/serverfarms"):
            deployed.plan = plan.arguments["body"]
        for account in self.of("azurerm_cosmosdb_account"):
            a = account.arguments
            deployed.cosmos_accounts[a["name"]] = {
                "serverless": any(
                    c["name"] == "EnableServerless" for c in a.get("capabilities", [])
                ),
                "locations": sorted(
                    (g["failover_priority"], g["location"], g.get("zone_redundant", False))
                    for g in a.get("geo_location", [])
                ),
                "automatic_failover": a.get("automatic_failover_enabled", False),
                "backup": (a["backup"][0]["type"], a["backup"][0].get("tier")),
                "local_auth_disabled": a.get("local_authentication_disabled"),
            }
        for database in self.of("azurerm_cosmosdb_sql_database"):
            d = database.arguments
            deployed.cosmos_databases[d["name"]] = {
                "account": d["account_name"],
                "autoscale_max": _autoscale(d.get("autoscale_settings")),
            }
        for container in self.of("azurerm_cosmosdb_sql_container"):
            c = container.arguments
            deployed.containers[c["name"]] = Container(
                account=c["account_name"],
                database=c["database_name"],
                partition_key_paths=list(c["partition_key_paths"]),
                default_ttl=c.get("default_ttl"),
                unique_keys=sorted(sorted(k["paths"]) for k in c.get("unique_key", [])),
                autoscale_max=_autoscale(c.get("autoscale_settings")),
            )
        for namespace in self.of("azurerm_servicebus_namespace"):
            n = namespace.arguments
            deployed.namespaces[n["name"]] = {
                "sku": n["sku"],
                "capacity": n.get("capacity") if n["sku"] == "Premium" else None,
                "local_auth": n.get("local_auth_enabled"),
            }
        for queue in self.of("azurerm_servicebus_queue"):
            q = queue.arguments
            namespace_ref = self.ref(q["namespace_id"])
            deployed.queues[q["name"]] = Queue(
                namespace=namespace_ref.name if namespace_ref else text(q["namespace_id"]),
                max_delivery_count=q.get("max_delivery_count"),
                lock_duration=q.get("lock_duration"),
                requires_duplicate_detection=q.get("requires_duplicate_detection"),
                duplicate_window=q.get("duplicate_detection_history_time_window"),
                dead_lettering_on_expiry=q.get("dead_lettering_on_message_expiration"),
            )
        for account in self.of("azurerm_storage_account"):
            s = account.arguments
            deployed.storage_accounts[s["name"]] = {
                "shared_key": s.get("shared_access_key_enabled", True),
                "public": s.get("public_network_access_enabled", True),
            }
        for container in self.of("azurerm_storage_container"):
            c = container.arguments
            account_ref = self.ref(c["storage_account_id"])
            deployed.blob_containers[c["name"]] = account_ref.name if account_ref else "?"
        for policy in self.of("azurerm_storage_management_policy"):
            for rule in policy.arguments.get("rule") or []:
                _expiry(
                    deployed,
                    rule.get("enabled", True),
                    rule["filters"][0].get("prefix_match") or [],
                    rule["actions"][0]["base_blob"][0].get(
                        "delete_after_days_since_modification_greater_than"
                    ),
                )
        for assignment in self.of("azurerm_role_assignment"):
            a = assignment.arguments
            # By id only: a role name is looked up at apply time and checks nothing here.
            deployed.grants.append(
                Grant(
                    role_id(a.get("role_definition_id")),
                    self.ref(a["scope"]),
                    self.ref(a["principal_id"]),
                )
            )
        for assignment in self.of("azurerm_cosmosdb_sql_role_assignment"):
            a = assignment.arguments
            deployed.grants.append(
                Grant(
                    role_id(a["role_definition_id"]),
                    self.ref(a["scope"]),
                    self.ref(a["principal_id"]),
                )
            )
        for identity in self.of("azurerm_user_assigned_identity"):
            deployed.identities.add(identity.arguments["name"])
        for hub in self.azapi("Microsoft.NotificationHubs/namespaces/notificationHubs"):
            namespace = self.ref(hub.arguments["parent_id"])
            deployed.hubs[hub.arguments["name"]] = namespace.name if namespace else "?"
        for rule in self.of("azurerm_notification_hub_authorization_rule"):
            r = rule.arguments
            rights = {
                right
                for right, attribute in (
                    ("Listen", "listen"),
                    ("Send", "send"),
                    ("Manage", "manage"),
                )
                if r.get(attribute) is True
            }
            deployed.hub_rules.append(
                HubRule(
                    r["namespace_name"], r["notification_hub_name"], r["name"], frozenset(rights)
                )
            )
        for vault in self.of("azurerm_key_vault"):
            deployed.key_vaults.add(vault.arguments["name"])
        for secret in self.azapi("Microsoft.KeyVault/vaults/secrets"):
            vault_ref = self.ref(secret.arguments["parent_id"])
            deployed.vault_secrets[secret.arguments["name"]] = vault_ref.name if vault_ref else "?"
        nat_of_subnet = {}
        for association in self.of("azurerm_subnet_nat_gateway_association"):
            a = association.arguments
            subnet, nat = self.ref(a["subnet_id"]), self.ref(a["nat_gateway_id"])
            if subnet and nat:
                nat_of_subnet[subnet.name] = nat.name
        for subnet in self.of("azurerm_subnet"):
            s = subnet.arguments
            delegations = [d["service_delegation"][0]["name"] for d in s.get("delegation", [])]
            deployed.subnets[s["name"]] = Subnet(
                vnet=s["virtual_network_name"],
                prefix=s["address_prefixes"][0],
                nat_gateway=nat_of_subnet.get(s["name"]),
                delegation=delegations[0] if delegations else None,
            )
        for nat in self.of("azurerm_nat_gateway"):
            deployed.nat_gateways[nat.arguments["name"]] = []
        for association in self.of("azurerm_nat_gateway_public_ip_association"):
            a = association.arguments
            nat, ip = self.ref(a["nat_gateway_id"]), self.ref(a["public_ip_address_id"])
            if nat and ip:
                deployed.nat_gateways.setdefault(nat.name, []).append(ip.name)
        for endpoint in self.of("azurerm_private_endpoint"):
            e = endpoint.arguments
            deployed.private_endpoints[e["name"]] = e["private_service_connection"][0][
                "subresource_names"
            ][0]
        for link in self.of("azurerm_private_dns_zone_virtual_network_link"):
            deployed.dns_links.add(link.arguments["private_dns_zone_name"])
        for alert in self.of("azurerm_monitor_metric_alert"):
            a = alert.arguments
            for criteria in a.get("criteria", []):
                deployed.alerts.append(
                    {
                        "name": a["name"],
                        "scopes": [self.ref(s) for s in a["scopes"]],
                        "metric_namespace": criteria["metric_namespace"],
                        "metric": criteria["metric_name"],
                        "dimensions": {
                            d["name"]: list(d["values"]) for d in criteria.get("dimension", [])
                        },
                    }
                )
        deployed.outputs = self.model.outputs()
        for name, value in deployed.app_settings.items():
            deployed.refs[name] = self.ref(value)


def _autoscale(blocks: Any) -> int | None:
    if not blocks:
        return None
    return int(blocks[0]["max_throughput"])


def terraform_inputs(files: Mapping[str, Any]) -> dict[str, Input]:
    model = Terraform(files, overrides=_placeholders(files))
    inputs = {}
    for name, _, body in model.blocks.get("variable", []):
        has_default = "default" in body
        default = evaluate_raw(body["default"], model.base) if has_default else None
        inputs[name] = Input(default, not has_default, body.get("sensitive") is True)
    return inputs


def _placeholders(files: Mapping[str, Any]) -> dict[str, Any]:
    """Values standing for the required variables, so defaults can be read without tfvars."""
    out = {}
    for parsed in files.values():
        for entry in parsed.get("variable", []):
            for name, body in entry.items():
                if "default" not in body:
                    out[name.strip('"')] = None
    return out


def terraform_deployed(
    files: Mapping[str, Any],
    tfvars: Mapping[str, Any],
    environment: str,
    secrets: Mapping[str, Any] | None = None,
) -> Deployed:
    model = Terraform(files, tfvars, secrets)
    deployed = Deployed("terraform", environment, dict(model.variables))
    reader = TerraformReader(model)
    reader.read(deployed)
    deployed.kinds = {d.kind for d in reader.declared}
    deployed.resolver = reader.ref
    return deployed


def terraform_validation_failures(files: Mapping[str, Any], tfvars: Mapping[str, Any]) -> list[str]:
    """The variable validations ``terraform plan`` would run, replayed; the failing messages."""
    model = Terraform(files, tfvars)
    failures = []
    for name, _, body in model.blocks.get("variable", []):
        for validation in body.get("validation", []):
            try:
                ok = evaluate_raw(validation["condition"], model.base)
            except ExpressionError as error:
                failures.append(f"{name}: the condition does not evaluate: {error}")
                continue
            if ok is not True:
                failures.append(f"{name}: {evaluate_raw(validation['error_message'], model.base)}")
    return failures


# ------------------------------------------------------------------------------------ Bicep


class BicepReader:
    def __init__(self, deployment: bicep_model.Deployment) -> None:
        self.deployment = deployment
        self.declared = list(deployment.declared())
        self.registry = deployment.registry()

    def ref(self, value: Any) -> Ref | None:
        if isinstance(value, bicep_model.Resource):
            return Ref(value.type, str(value.attribute("name")), "id")  # a scope, a parent
        if not isinstance(value, Unknown):
            return None
        match = re.fullmatch(r"((?:[\w.\[\]]+/)?\w+(?:\[\d+\])?)\.(.+)", value.text)
        if match:
            origin, attribute = match.groups()
            resource = self.registry.get(origin)
            if resource is not None:
                return Ref(resource.type, str(resource.attribute("name")), attribute)
        match = re.fullmatch(
            r"(?:/subscriptions/<subscription>|resourceGroup\(\))/providers/(.+)", value.text
        )
        if match:
            segments = match.group(1).split("/")
            type_ = "/".join([segments[0], *segments[1::2]])
            return Ref(type_, segments[-1], "id")
        return None

    def of(self, type_: str) -> Iterator[bicep_model.Declared]:
        return (d for d in self.declared if d.type == type_)

    def read(self, deployed: Deployed) -> None:
        deployed.resource_types = {d.type for d in self.declared}
        for site in self.of("Microsoft.Web/sites"):
            deployed.site = site.body
            deployed.app_settings = settings_list(
                site.body["properties"]["siteConfig"].get("appSettings")
            )
            deployed.site_identities = [
                self.ref(Unknown(_unwrap(key)))
                for key in site.body.get("identity", {}).get("userAssignedIdentities", {})
            ]
            module = site.module.split("/")[-1] if site.module else ""
            references = self.deployment.module_references().get(module, frozenset())
            for symbol in references:
                value = self.deployment.resolve(symbol)
                for instance in (
                    value if isinstance(value, list) else [] if value is None else [value]
                ):
                    if isinstance(instance, bicep_model.Module):
                        deployed.site_prerequisites.update(
                            d.type for d in instance.deployment.declared()
                        )
                    elif isinstance(instance, bicep_model.Resource):
                        deployed.site_prerequisites.add(instance.type)
        for plan in self.of("Microsoft.Web/serverfarms"):
            deployed.plan = plan.body
        for account in self.of("Microsoft.DocumentDB/databaseAccounts"):
            p = account.body["properties"]
            deployed.cosmos_accounts[account.body["name"]] = {
                "serverless": any(
                    c["name"] == "EnableServerless" for c in p.get("capabilities", [])
                ),
                "locations": sorted(
                    (
                        loc["failoverPriority"],
                        loc["locationName"],
                        loc.get("isZoneRedundant", False),
                    )
                    for loc in p["locations"]
                ),
                "automatic_failover": p.get("enableAutomaticFailover", False),
                "backup": (
                    p["backupPolicy"]["type"],
                    p["backupPolicy"].get("continuousModeProperties", {}).get("tier"),
                ),
                "local_auth_disabled": p.get("disableLocalAuth"),
            }
        for database in self.of("Microsoft.DocumentDB/databaseAccounts/sqlDatabases"):
            parent = self.ref(database.body["parent"])
            deployed.cosmos_databases[database.body["name"]] = {
                "account": parent.name if parent else "?",
                "autoscale_max": _bicep_autoscale(database.body["properties"].get("options")),
            }
        for container in self.of("Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"):
            resource = container.body["properties"]["resource"]
            database = self.ref(container.body["parent"])
            account = self.ref(container.body["parent"].attribute("parent")) if database else None
            deployed.containers[container.body["name"]] = Container(
                account=account.name if account else "?",
                database=database.name if database else "?",
                partition_key_paths=list(resource["partitionKey"]["paths"]),
                default_ttl=resource.get("defaultTtl"),
                unique_keys=sorted(
                    sorted(k["paths"])
                    for k in resource.get("uniqueKeyPolicy", {}).get("uniqueKeys", [])
                ),
                autoscale_max=_bicep_autoscale(container.body["properties"].get("options")),
            )
        for namespace in self.of("Microsoft.ServiceBus/namespaces"):
            deployed.namespaces[namespace.body["name"]] = {
                "sku": namespace.body["sku"]["name"],
                "capacity": namespace.body["sku"].get("capacity"),
                "local_auth": not namespace.body["properties"].get("disableLocalAuth", False),
            }
        for queue in self.of("Microsoft.ServiceBus/namespaces/queues"):
            p = queue.body["properties"]
            parent = self.ref(queue.body["parent"])
            deployed.queues[queue.body["name"]] = Queue(
                namespace=parent.name if parent else "?",
                max_delivery_count=p.get("maxDeliveryCount"),
                lock_duration=p.get("lockDuration"),
                requires_duplicate_detection=p.get("requiresDuplicateDetection"),
                duplicate_window=p.get("duplicateDetectionHistoryTimeWindow"),
                dead_lettering_on_expiry=p.get("deadLetteringOnMessageExpiration"),
            )
        for account in self.of("Microsoft.Storage/storageAccounts"):
            p = account.body["properties"]
            deployed.storage_accounts[account.body["name"]] = {
                "shared_key": p.get("allowSharedKeyAccess", True),
                "public": p.get("publicNetworkAccess") != "Disabled",
            }
        for container in self.of("Microsoft.Storage/storageAccounts/blobServices/containers"):
            service = container.body["parent"]
            account = self.ref(service.attribute("parent"))
            deployed.blob_containers[container.body["name"]] = account.name if account else "?"
        for policy in self.of("Microsoft.Storage/storageAccounts/managementPolicies"):
            for rule in policy.body["properties"]["policy"]["rules"]:
                definition = rule["definition"]
                _expiry(
                    deployed,
                    rule.get("enabled", True),
                    definition["filters"].get("prefixMatch") or [],
                    definition["actions"]["baseBlob"]["delete"].get(
                        "daysAfterModificationGreaterThan"
                    ),
                )
        for assignment in self.of("Microsoft.Authorization/roleAssignments"):
            p = assignment.body["properties"]
            deployed.grants.append(
                Grant(
                    role_id(p["roleDefinitionId"]),
                    self.ref(assignment.body["scope"]),
                    self.ref(p["principalId"]),
                )
            )
        for assignment in self.of("Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"):
            p = assignment.body["properties"]
            deployed.grants.append(
                Grant(
                    role_id(p["roleDefinitionId"]),
                    self.ref(p["scope"]) or self.ref(assignment.body["parent"]),
                    self.ref(p["principalId"]),
                )
            )
        for identity in self.of("Microsoft.ManagedIdentity/userAssignedIdentities"):
            deployed.identities.add(identity.body["name"])
        for hub in self.of("Microsoft.NotificationHubs/namespaces/notificationHubs"):
            namespace = self.ref(hub.body["parent"])
            deployed.hubs[hub.body["name"]] = namespace.name if namespace else "?"
        for rule in self.of(
            "Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules"
        ):
            hub = rule.body["parent"]
            namespace = self.ref(hub.attribute("parent"))
            deployed.hub_rules.append(
                HubRule(
                    namespace.name if namespace else "?",
                    str(hub.attribute("name")),
                    rule.body["name"],
                    frozenset(rule.body["properties"]["rights"]),
                )
            )
        for vault in self.of("Microsoft.KeyVault/vaults"):
            deployed.key_vaults.add(vault.body["name"])
        for secret in self.of("Microsoft.KeyVault/vaults/secrets"):
            parent = self.ref(secret.body["parent"])
            deployed.vault_secrets[secret.body["name"]] = parent.name if parent else "?"
        for vnet in self.of("Microsoft.Network/virtualNetworks"):
            for subnet in vnet.body["properties"].get("subnets", []):
                p = subnet["properties"]
                nat = self.ref(p["natGateway"]["id"]) if "natGateway" in p else None
                delegations = [d["properties"]["serviceName"] for d in p.get("delegations", [])]
                deployed.subnets[subnet["name"]] = Subnet(
                    vnet=vnet.body["name"],
                    prefix=p["addressPrefix"],
                    nat_gateway=nat.name if nat else None,
                    delegation=delegations[0] if delegations else None,
                )
        for nat in self.of("Microsoft.Network/natGateways"):
            ips = [self.ref(ip["id"]) for ip in nat.body["properties"].get("publicIpAddresses", [])]
            deployed.nat_gateways[nat.body["name"]] = [ip.name for ip in ips if ip]
        for endpoint in self.of("Microsoft.Network/privateEndpoints"):
            connection = endpoint.body["properties"]["privateLinkServiceConnections"][0]
            deployed.private_endpoints[endpoint.body["name"]] = connection["properties"][
                "groupIds"
            ][0]
        for link in self.of("Microsoft.Network/privateDnsZones/virtualNetworkLinks"):
            deployed.dns_links.add(str(link.body["parent"].attribute("name")))
        for alert in self.of("Microsoft.Insights/metricAlerts"):
            p = alert.body["properties"]
            for criterion in p["criteria"].get("allOf", []):
                deployed.alerts.append(
                    {
                        "name": alert.body["name"],
                        "scopes": [self.ref(s) for s in p["scopes"]],
                        "metric_namespace": criterion.get("metricNamespace"),
                        "metric": criterion.get("metricName"),
                        "dimensions": {
                            d["name"]: list(d["values"]) for d in criterion.get("dimensions", [])
                        },
                    }
                )
        deployed.outputs = self.deployment.outputs()
        for name, value in deployed.app_settings.items():
            deployed.refs[name] = self.ref(value)


def _unwrap(key: str) -> str:
    """An unknown object key's text (``${identity.id}``) as the expression it came from."""
    return key[2:-1] if key.startswith("${") and key.endswith("}") else key


def _bicep_autoscale(options: Any) -> int | None:
    if not options or "autoscaleSettings" not in options:
        return None
    return int(options["autoscaleSettings"]["maxThroughput"])


def bicep_parameters(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())["parameters"]  # type: ignore[no-any-return]


def bicep_inputs(root: Path) -> dict[str, Input]:
    parsed = bicep_model.parse_file((root / "main.bicep").read_text(), "main.bicep")
    deployment = bicep_model.deployment(root, {})
    inputs = {}
    for name, param in parsed.of("param").items():
        default = None
        if param.node is not None:
            default = deployment.resolve(name)
        inputs[snake(name)] = Input(default, param.node is None, "secure" in param.decorators)
    return inputs


def bicep_deployed(
    root: Path,
    parameters: Mapping[str, Any],
    environment: str,
    secrets: Mapping[str, Any] | None = None,
) -> Deployed:
    values = {**parameters, **{k: {"value": v} for k, v in (secrets or {}).items()}}
    deployment = bicep_model.deployment(root, values)
    params = {snake(name): deployment.resolve(name) for name in deployment.file.of("param")}
    deployed = Deployed("bicep", environment, params)
    reader = BicepReader(deployment)
    reader.read(deployed)
    deployed.resolver = reader.ref
    return deployed


def bicep_check_failures(root: Path, parameters: Mapping[str, Any]) -> list[str]:
    """What modules/checks.bicep's fail() would stop the deployment with, if anything."""
    deployment = bicep_model.deployment(root, parameters)
    try:
        deployment.resolve("checks").deployment.outputs()
    except ExpressionError as error:
        return [str(error)]
    return []
