// Key Vault in RBAC mode: the Notification Hubs connection strings (Key Vault references in app
// settings) and the per-party secrets the app reads by name. Secrets are written as ARM resources
// (the control plane), which works with the vault's public network access off.
param name string
param location string
param privateNetworking bool
@secure()
@description('Secret name => value.')
param partySecrets object
param tags object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:The network ACL denies by default with privateNetworking; dev allows, with Entra ID RBAC on every call.
  // checkov:skip=CKV_AZURE_189:Public network access is off with privateNetworking; dev keeps it on, with Entra ID RBAC on every call.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource partySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for item in items(partySecrets): {
  // checkov:skip=CKV_AZURE_41:Party secrets rotate when the party rotates them, not on a fixed date.
  parent: vault
  name: item.key
  properties: {
    value: item.value
    contentType: 'party secret'
  }
}]

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
