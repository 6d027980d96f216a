// The Functions host's storage (AzureWebJobsStorage) and the Flex Consumption deployment package
// container. Shared keys are off: the host and the deployment use the identity.
param name string
param deploymentContainer string
param location string
param replication string
param privateNetworking bool
param tags object

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59:Public network access is off with privateNetworking; dev keeps it on, with shared keys off so only Entra ID RBAC gets in.
  // checkov:skip=CKV_AZURE_35:The network ACL denies by default with privateNetworking; dev allows, with Entra ID only.
  // checkov:skip=CKV_AZURE_206:Replication is a parameter (storageReplication); the host state is rebuilt on loss and the package is redeployed.
  name: name
  location: location
  kind: 'StorageV2'
  tags: tags
  sku: {
    name: 'Standard_${replication}'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    isLocalUserEnabled: false
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    sasPolicy: {
      sasExpirationPeriod: '0.01:00:00'
      expirationAction: 'Log'
    }
    networkAcls: {
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
