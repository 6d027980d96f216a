# Acquirers' transaction files (docs/cashback-files.md): an SFTP-enabled storage account with a
# container and a local user per acquirer (its home), and Event Grid routing each blob-created
# event to the files queue, where the app's trigger processes the file. The app's identity reads
# the files and writes reports beside them; the HTTPS upload lands in the same containers.
locals {
  files_container_prefix = "rtd-"
  files_containers       = { for id, keys in var.cashback_acquirers : id => "${local.files_container_prefix}${lower(id)}" }
}

resource "azurerm_storage_account" "files" {
  #checkov:skip=CKV_AZURE_59:Acquirers reach SFTP over the internet (as pagoPA's SFTP gateway was public); only local users with SSH keys get in, and the app uses Entra ID.
  #checkov:skip=CKV2_AZURE_33:Acquirers connect from their own networks: SFTP needs the public endpoint.
  #checkov:skip=CKV2_AZURE_1:Encrypted at rest with Microsoft-managed keys; the files are PGP-encrypted by acquirers besides.
  #checkov:skip=CKV_AZURE_206:Replication is an input, as for the host's storage.
  #checkov:skip=CKV_AZURE_33:No queue service is used on this account.
  #checkov:skip=CKV_AZURE_35:Acquirers connect from their own networks: the default action stays Allow.
  #checkov:skip=CKV_AZURE_244:Local users are the point: Azure SFTP authenticates acquirers only as local users (SSH keys, one per acquirer, confined to its container).
  name                            = local.names.files_storage_account
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
  is_hns_enabled                  = true # SFTP needs the hierarchical namespace
  sftp_enabled                    = true
  local_user_enabled              = true
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
}

resource "azurerm_storage_container" "files" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging goes to Log Analytics through the account's diagnostic setting.
  for_each = local.files_containers

  name                  = each.value
  storage_account_id    = azurerm_storage_account.files.id
  container_access_type = "private"
}

# One local user per acquirer, SSH keys only, confined to its container (its home).
resource "azurerm_storage_account_local_user" "files" {
  for_each = var.cashback_acquirers

  name                 = lower(each.key)
  storage_account_id   = azurerm_storage_account.files.id
  ssh_key_enabled      = true
  ssh_password_enabled = false
  home_directory       = azurerm_storage_container.files[each.key].name

  dynamic "ssh_authorized_key" {
    for_each = each.value
    content {
      key         = ssh_authorized_key.value
      description = "${each.key} key ${ssh_authorized_key.key + 1}"
    }
  }

  permission_scope {
    service       = "blob"
    resource_name = azurerm_storage_container.files[each.key].name
    permissions {
      create = true
      write  = true
      list   = true
      read   = true
      delete = false
    }
  }
}

# Every blob created in an acquirer's container: the event, to the files queue, delivered with
# an identity of its own that may only send.
resource "azurerm_user_assigned_identity" "files_events" {
  name                = "${local.base}-rtd-egst-id"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

resource "azurerm_eventgrid_system_topic" "files" {
  name                   = local.names.files_events_topic
  resource_group_name    = azurerm_resource_group.this.name
  location               = azurerm_resource_group.this.location
  source_arm_resource_id = azurerm_storage_account.files.id
  topic_type             = "Microsoft.Storage.StorageAccounts"
  tags                   = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.files_events.id]
  }
}

# Event Grid delivers with that identity: the right to send, on the namespace.
resource "azurerm_role_assignment" "files_events" {
  scope              = azurerm_servicebus_namespace.this.id
  role_definition_id = "/subscriptions/${data.azurerm_client_config.current.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/${local.built_in_roles.service_bus_data_sender}"
  principal_id       = azurerm_user_assigned_identity.files_events.principal_id
  principal_type     = "ServicePrincipal"
}

resource "azurerm_eventgrid_system_topic_event_subscription" "files" {
  name                          = "blob-created-to-files-queue"
  system_topic                  = azurerm_eventgrid_system_topic.files.name
  resource_group_name           = azurerm_resource_group.this.name
  service_bus_queue_endpoint_id = azurerm_servicebus_queue.this["cashback_files"].id
  event_delivery_schema         = "EventGridSchema"
  included_event_types          = ["Microsoft.Storage.BlobCreated"]

  subject_filter {
    subject_begins_with = "/blobServices/default/containers/${local.files_container_prefix}"
  }

  delivery_identity {
    type                   = "UserAssigned"
    user_assigned_identity = azurerm_user_assigned_identity.files_events.id
  }

  depends_on = [azurerm_role_assignment.files_events]
}
