# Networking. In every environment the Function App's outbound traffic leaves through its VNet
# integration subnet and a NAT Gateway with a static public IP (as pagoPA's function subnets do):
# one known address for partners to allow, explicit SNAT ports (64,512 per public IP) instead of
# the platform's implicit SNAT (the path of the 2020 outage), and metrics and an alert on failed
# connections (alerts.tf). With private_networking, storage, Cosmos DB, Service Bus (Premium) and
# Key Vault are reached through private endpoints and private DNS zones instead of the internet.
# The Function App itself stays reachable over HTTPS: it is the API of the app backend and partners.
locals {
  private_endpoints = var.private_networking ? {
    storage_blob = {
      resource_id = azurerm_storage_account.this.id
      subresource = "blob"
      dns_zone    = "privatelink.blob.core.windows.net"
    }
    storage_queue = {
      resource_id = azurerm_storage_account.this.id
      subresource = "queue"
      dns_zone    = "privatelink.queue.core.windows.net"
    }
    storage_table = {
      resource_id = azurerm_storage_account.this.id
      subresource = "table"
      dns_zone    = "privatelink.table.core.windows.net"
    }
    cosmos = {
      resource_id = azurerm_cosmosdb_account.this.id
      subresource = "Sql"
      dns_zone    = "privatelink.documents.azure.com"
    }
    servicebus = {
      resource_id = azurerm_servicebus_namespace.this.id
      subresource = "namespace"
      dns_zone    = "privatelink.servicebus.windows.net"
    }
    key_vault = {
      resource_id = azurerm_key_vault.this.id
      subresource = "vault"
      dns_zone    = "privatelink.vaultcore.azure.net"
    }
  } : {}

  private_dns_zones = toset([for endpoint in values(local.private_endpoints) : endpoint.dns_zone])
}

resource "azurerm_virtual_network" "this" {
  name                = local.names.vnet
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  address_space       = [var.vnet_address_space]
  tags                = local.tags
}

resource "azurerm_subnet" "functions" {
  #checkov:skip=CKV2_AZURE_31:The Flex Consumption integration subnet is delegated to Microsoft.App/environments, which manages its own network security.
  name                 = "functions"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [var.functions_subnet_prefix]

  delegation {
    name = "flex-consumption"
    service_delegation {
      name    = "Microsoft.App/environments"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_subnet" "private_endpoints" {
  #checkov:skip=CKV2_AZURE_31:Private endpoints only; network policies for private endpoints are off by default and no other traffic lands here.
  count = var.private_networking ? 1 : 0

  name                 = "private-endpoints"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [var.private_endpoints_subnet_prefix]
}

# The app's one way out to the internet (Notification Hubs, the PSP, the bank check, JWKS, the
# stations): a static address, and SNAT ports that are counted and alerted on.
resource "azurerm_public_ip" "nat" {
  name                = local.names.nat_public_ip
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = local.tags
}

resource "azurerm_nat_gateway" "this" {
  name                    = local.names.nat_gateway
  resource_group_name     = azurerm_resource_group.this.name
  location                = azurerm_resource_group.this.location
  sku_name                = "Standard"
  idle_timeout_in_minutes = 4
  tags                    = local.tags
}

resource "azurerm_nat_gateway_public_ip_association" "this" {
  nat_gateway_id       = azurerm_nat_gateway.this.id
  public_ip_address_id = azurerm_public_ip.nat.id
}

resource "azurerm_subnet_nat_gateway_association" "functions" {
  subnet_id      = azurerm_subnet.functions.id
  nat_gateway_id = azurerm_nat_gateway.this.id
}

resource "azurerm_private_dns_zone" "this" {
  for_each = local.private_dns_zones

  name                = each.key
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "this" {
  for_each = local.private_dns_zones

  name                  = "${local.names.vnet}-link"
  resource_group_name   = azurerm_resource_group.this.name
  private_dns_zone_name = azurerm_private_dns_zone.this[each.key].name
  virtual_network_id    = azurerm_virtual_network.this.id
  tags                  = local.tags
}

resource "azurerm_private_endpoint" "this" {
  for_each = local.private_endpoints

  name                = "${local.base}-${replace(each.key, "_", "-")}-pep"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  subnet_id           = azurerm_subnet.private_endpoints[0].id
  tags                = local.tags

  private_service_connection {
    name                           = "${local.base}-${replace(each.key, "_", "-")}"
    private_connection_resource_id = each.value.resource_id
    subresource_names              = [each.value.subresource]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "default"
    private_dns_zone_ids = [azurerm_private_dns_zone.this[each.value.dns_zone].id]
  }
}
