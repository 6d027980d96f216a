# The Functions host's storage (AzureWebJobsStorage: leases, timers, keys), the Flex Consumption
# deployment package container and the app's own Blob containers (bulk uploads, payout lists).
# Shared keys are off: the host, the app and the deployment use the identity.
resource "azurerm_storage_account" "this" {
  #checkov:skip=CKV_AZURE_59:Public network access is off with private_networking; dev keeps it on, with shared keys off so only Entra ID RBAC gets in.
  #checkov:skip=CKV2_AZURE_33:Private endpoints (blob, queue, table) are created with private_networking (network.tf); dev has none.
  #checkov:skip=CKV2_AZURE_1:Encrypted at rest with Microsoft-managed keys, although payout lists and bulk uploads hold citizen data (fiscal codes, IBANs): customer-managed keys need a Key Vault key lifecycle (rotation, access, recovery) nobody runs yet; infra/README.md records the accepted risk.
  #checkov:skip=CKV_AZURE_206:Replication is an input: ZRS in production (payout lists and bulk uploads are citizen data, kept across zones); dev uses LRS and holds test data only.
  #checkov:skip=CKV_AZURE_33:Queue service logs go to Log Analytics through a diagnostic setting (diagnostics.tf), not classic Storage Analytics logging.
  name                            = local.names.storage_account
  resource_group_name             = azurerm_resource_group.this.name
  location                        = azurerm_resource_group.this.location
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = var.storage_replication
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  public_network_access_enabled   = !var.private_networking
  local_user_enabled              = false
  tags                            = local.tags

  blob_properties {
    delete_retention_policy {
      days = 7
    }
    container_delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "0.01:00:00"
  }

  network_rules {
    #checkov:skip=CKV_AZURE_35:Public access is on only without private_networking (dev); then Flex Consumption reaches storage over the internet, with Entra ID only.
    default_action = var.private_networking ? "Deny" : "Allow"
    bypass         = ["AzureServices"]
  }
}

resource "azurerm_storage_container" "deployment" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging goes to Log Analytics through the diagnostic setting on the blob service (diagnostics.tf).
  name                  = local.names.deployment_container
  storage_account_id    = azurerm_storage_account.this.id # management plane: works with public access off
  container_access_type = "private"
}

# The app's Blob containers (shared/platform/resources.py BLOB_CONTAINERS): the app's identity
# cannot create them, and writes into a missing one fail (ContainerNotFound).
resource "azurerm_storage_container" "app" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging goes to Log Analytics through the diagnostic setting on the blob service (diagnostics.tf).
  for_each = local.blob_containers

  name                  = each.value.name
  storage_account_id    = azurerm_storage_account.this.id # management plane: works with public access off
  container_access_type = "private"
}

# Blobs of the containers that keep them for a while only (shared/platform/resources.py
# BLOB_CONTAINERS expire_after_days): deleted that many days after their last change.
resource "azurerm_storage_management_policy" "this" {
  storage_account_id = azurerm_storage_account.this.id

  dynamic "rule" {
    for_each = { for key, c in local.blob_containers : key => c if try(c.expire_after_days, null) != null }
    content {
      name    = "expire${replace(rule.value.name, "-", "")}"
      enabled = true
      filters {
        prefix_match = ["${rule.value.name}/"]
        blob_types   = ["blockBlob"]
      }
      actions {
        base_blob {
          delete_after_days_since_modification_greater_than = rule.value.expire_after_days
        }
      }
    }
  }
}
