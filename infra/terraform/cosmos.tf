# Cosmos DB (NoSQL): the account, the database and every container the code uses, created here
# because the app's identity has data-plane rights only. Keys are off: the app uses its identity.
# Production: autoscale throughput per container where the load is (sized by the capacity model,
# docs/capacity.md), the database's shared throughput for the rest, a second region with
# automatic failover, and 30 days of continuous backup (Azure Verified Modules' default).
resource "azurerm_cosmosdb_account" "this" {
  #checkov:skip=CKV_AZURE_101:Public network access is off with private_networking (prod); dev keeps it on, with keys disabled so only Entra ID RBAC gets in.
  #checkov:skip=CKV_AZURE_99:Access is restricted by private endpoints with private_networking; dev relies on Entra ID RBAC with local auth off.
  #checkov:skip=CKV_AZURE_100:Service-managed encryption at rest; customer-managed keys need a key vault key lifecycle this project does not run.
  name                               = local.names.cosmos_account
  resource_group_name                = azurerm_resource_group.this.name
  location                           = azurerm_resource_group.this.location
  offer_type                         = "Standard"
  kind                               = "GlobalDocumentDB"
  local_authentication_disabled      = true
  access_key_metadata_writes_enabled = false
  public_network_access_enabled      = !var.private_networking
  minimal_tls_version                = "Tls12"
  automatic_failover_enabled         = var.cosmos_secondary_location != ""
  tags                               = local.tags

  consistency_policy {
    consistency_level = "Session"
  }

  geo_location {
    location          = azurerm_resource_group.this.location
    failover_priority = 0
    zone_redundant    = var.cosmos_zone_redundant
  }

  dynamic "geo_location" {
    for_each = var.cosmos_secondary_location == "" ? [] : [var.cosmos_secondary_location]
    content {
      location          = geo_location.value
      failover_priority = 1
      zone_redundant    = var.cosmos_zone_redundant
    }
  }

  dynamic "capabilities" {
    for_each = var.cosmos_capacity_mode == "serverless" ? ["EnableServerless"] : []
    content {
      name = capabilities.value
    }
  }

  backup {
    type = "Continuous"
    tier = "Continuous30Days"
  }
}

resource "azurerm_cosmosdb_sql_database" "this" {
  name                = var.cosmos_database_name
  resource_group_name = azurerm_resource_group.this.name
  account_name        = azurerm_cosmosdb_account.this.name

  # Shared by the containers without throughput of their own.
  dynamic "autoscale_settings" {
    for_each = var.cosmos_capacity_mode == "autoscale" ? [var.cosmos_autoscale_max_throughput] : []
    content {
      max_throughput = autoscale_settings.value
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "this" {
  for_each = local.cosmos_containers

  name                  = each.value.name
  resource_group_name   = azurerm_resource_group.this.name
  account_name          = azurerm_cosmosdb_account.this.name
  database_name         = azurerm_cosmosdb_sql_database.this.name
  partition_key_paths   = [each.value.partition_key]
  partition_key_version = 2
  default_ttl           = each.value.default_ttl

  # Dedicated autoscale throughput where the capacity model puts the load.
  dynamic "autoscale_settings" {
    for_each = var.cosmos_capacity_mode == "autoscale" && contains(keys(var.cosmos_container_autoscale_max_throughput), each.key) ? [var.cosmos_container_autoscale_max_throughput[each.key]] : []
    content {
      max_throughput = autoscale_settings.value
    }
  }

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }
  }

  dynamic "unique_key" {
    for_each = each.value.unique_keys
    content {
      paths = unique_key.value
    }
  }
}
