// The Functions host's storage (AzureWebJobsStorage), the Flex Consumption deployment package
// container and the app's own Blob containers (bulk uploads, payout lists). Shared keys are off:
// the host, the app and the deployment use the identity.
param name string
param deploymentContainer string
@description('Container key => { setting, name }: the app\'s Blob containers (shared/platform/resources.py BLOB_CONTAINERS); its identity cannot create them.')
param containers object
@description('{ name, days }: containers whose blobs are deleted that many days after their last change (shared/platform/resources.py BLOB_CONTAINERS expire_after_days).')
param expiring array = []
param location string
param replication string
param privateNetworking bool
param tags object

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59:Public network access is off with privateNetworking; dev keeps it on, with shared keys off so only Entra ID RBAC gets in.
  // checkov:skip=CKV_AZURE_35:The network ACL denies by default with privateNetworking; dev allows, with Entra ID only.
  // checkov:skip=CKV_AZURE_206:Replication is an input: ZRS in production (payout lists and bulk uploads are citizen data, kept across zones); dev uses LRS and holds test data only.
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

resource appContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for item in items(containers): {
  parent: blobService
  name: item.value.name
  properties: {
    publicAccess: 'None'
  }
}]

output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (!empty(expiring)) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [for c in expiring: {
        name: 'expire${replace(c.name, '-', '')}'
        enabled: true
        type: 'Lifecycle'
        definition: {
          filters: {
            blobTypes: [
              'blockBlob'
            ]
            prefixMatch: [
              '${c.name}/'
            ]
          }
          actions: {
            baseBlob: {
              delete: {
                daysAfterModificationGreaterThan: c.days
              }
            }
          }
        }
      }]
    }
  }
}
