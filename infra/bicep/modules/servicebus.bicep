// Service Bus: the namespace and every queue a trigger or a producer names. Keys are off (local
// auth disabled): triggers and senders use the identity.
param name string
param location string
@allowed(['Standard', 'Premium'])
param sku string
param premiumMessagingUnits int
@description('Queue key => { setting, name, lockSeconds, duplicateWindowSeconds }.')
param queues object
param maxDeliveryCount int
param deadLetteringOnExpiry bool
param messageTtlDays int
param privateNetworking bool
param tags object

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku
    capacity: sku == 'Premium' ? premiumMessagingUnits : null
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    premiumMessagingPartitions: sku == 'Premium' ? 1 : null
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for item in items(queues): {
  parent: namespace
  name: item.value.name
  properties: {
    maxDeliveryCount: maxDeliveryCount
    lockDuration: 'PT${item.value.lockSeconds}S'
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT${item.value.duplicateWindowSeconds}S'
    deadLetteringOnMessageExpiration: deadLetteringOnExpiry
    defaultMessageTimeToLive: 'P${messageTtlDays}D'
  }
}]

output id string = namespace.id
