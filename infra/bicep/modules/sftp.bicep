// Acquirers' transaction files (docs/cashback-files.md): an SFTP-enabled storage account with a
// container and a local user per acquirer (its home), and Event Grid routing each blob-created
// event to the files queue. The app's identity reads the files and writes reports beside them.
param name string
param location string
param replication string
param containerPrefix string
@description('Party id (capital letters and digits) -> the public SSH keys of its SFTP local user, each { key, description }.')
param acquirers object
param topicName string
param servicebusNamespaceName string
param queueName string
param appPrincipalId string
param tags object

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Acquirers connect from their own networks: the default action stays Allow; only local users with SSH keys get in, and the app uses Entra ID.
  // checkov:skip=CKV_AZURE_206:Replication is an input, as for the host's storage: ZRS in production, LRS in dev.
  name: name
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_${replication}'
  }
  tags: tags
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    // SFTP needs the hierarchical namespace
    isHnsEnabled: true
    isSftpEnabled: true
    isLocalUserEnabled: true
    sasPolicy: {
      sasExpirationPeriod: '0.01:00:00'
      expirationAction: 'Log'
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

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for acquirer in items(acquirers): {
  parent: blobService
  name: '${containerPrefix}${toLower(acquirer.key)}'
  properties: {
    publicAccess: 'None'
  }
}]

// One local user per acquirer, SSH keys only, confined to its container (its home).
resource localUsers 'Microsoft.Storage/storageAccounts/localUsers@2023-05-01' = [for acquirer in items(acquirers): {
  parent: account
  name: toLower(acquirer.key)
  dependsOn: [
    containers
  ]
  properties: {
    hasSshKey: true
    hasSshPassword: false
    homeDirectory: '${containerPrefix}${toLower(acquirer.key)}'
    permissionScopes: [
      {
        service: 'blob'
        resourceName: '${containerPrefix}${toLower(acquirer.key)}'
        permissions: 'rwcl'
      }
    ]
    sshAuthorizedKeys: acquirer.value
  }
}]

resource servicebus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: servicebusNamespaceName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: servicebus
  name: queueName
}

// Event Grid delivers with an identity of its own that may only send.
resource eventsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${topicName}-id'
  location: location
  tags: tags
}

resource eventsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: servicebus
  name: guid(servicebus.id, eventsIdentity.id, serviceBusDataSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: eventsIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource topic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: topicName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventsIdentity.id}': {}
    }
  }
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = {
  parent: topic
  name: 'blob-created-to-files-queue'
  dependsOn: [
    eventsSender
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${containerPrefix}'
    }
    deliveryWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventsIdentity.id
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: queue.id
        }
      }
    }
  }
}

// The app reads acquirers' files and writes their reports beside them.
resource appBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: account
  name: guid(account.id, appPrincipalId, storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = account.name
