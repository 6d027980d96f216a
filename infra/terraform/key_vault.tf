# Key Vault in RBAC mode: the Notification Hubs connection strings (Key Vault references in app
# settings) and the per-party secrets the app reads by name through the SDK. Every secret is
# written through the control plane (Microsoft.KeyVault/vaults/secrets), which works with the
# vault's public network access off; the data plane would not.
resource "azurerm_key_vault" "this" {
  #checkov:skip=CKV2_AZURE_32:A private endpoint is created with private_networking (network.tf); dev has none.
  #checkov:skip=CKV_AZURE_189:Public network access is off with private_networking; dev keeps it on, with no network path to the data plane other than Entra ID RBAC.
  #checkov:skip=CKV_AZURE_109:The network ACL denies by default with private_networking; dev allows, with Entra ID RBAC on every call.
  name                          = local.names.key_vault
  resource_group_name           = azurerm_resource_group.this.name
  location                      = azurerm_resource_group.this.location
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  rbac_authorization_enabled    = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = !var.private_networking
  tags                          = local.tags

  network_acls {
    default_action = var.private_networking ? "Deny" : "Allow"
    bypass         = "AzureServices"
  }
}

resource "azapi_resource" "party_secret" {
  for_each = nonsensitive(toset(keys(var.party_secrets)))

  type      = "Microsoft.KeyVault/vaults/secrets@2023-07-01"
  name      = each.key
  parent_id = azurerm_key_vault.this.id
  body = {
    properties = {
      contentType = "party secret"
    }
  }
  sensitive_body = {
    properties = {
      value = var.party_secrets[each.key]
    }
  }
  # azapi sends sensitive_body only when its version changes: the hash makes a changed secret a
  # plan change and a new secret version.
  sensitive_body_version = {
    "properties.value" = sha256(var.party_secrets[each.key])
  }
}
