// Diagnostic settings to Log Analytics for every resource that has them: all logs (where the
// resource has logs) and all metrics.
param workspaceId string
param functionAppName string
param storageAccountName string
param cosmosAccountName string
param servicebusNamespaceName string
param keyVaultName string
param natGatewayName string
param notificationHubNamespaceNames array

var logsAndMetrics = {
  workspaceId: workspaceId
  logs: [
    {
      categoryGroup: 'allLogs'
      enabled: true
    }
  ]
  metrics: [
    {
      category: 'AllMetrics'
      enabled: true
    }
  ]
}

var metricsOnly = {
  workspaceId: workspaceId
  metrics: [
    {
      category: 'AllMetrics'
      enabled: true
    }
  ]
}

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource servicebus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: servicebusNamespaceName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource natGateway 'Microsoft.Network/natGateways@2024-05-01' existing = {
  name: natGatewayName
}

resource notificationHubNamespace 'Microsoft.NotificationHubs/namespaces@2023-10-01-preview' existing = [for namespaceName in notificationHubNamespaceNames: {
  name: namespaceName
}]

resource siteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: site
  name: 'to-log-analytics'
  properties: logsAndMetrics
}

// The account level has metrics only.
resource storageDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: storage
  name: 'to-log-analytics'
  properties: metricsOnly
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: blobService
  name: 'to-log-analytics'
  properties: logsAndMetrics
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: queueService
  name: 'to-log-analytics'
  properties: logsAndMetrics
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: tableService
  name: 'to-log-analytics'
  properties: logsAndMetrics
}

resource cosmosDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: cosmos
  name: 'to-log-analytics'
  properties: logsAndMetrics
}

resource servicebusDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: servicebus
  name: 'to-log-analytics'
  properties: logsAndMetrics
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: vault
  name: 'to-log-analytics'
  properties: logsAndMetrics
}

// SNAT connections (total, dropped) of the app's outbound traffic: metrics only.
resource natGatewayDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: natGateway
  name: 'to-log-analytics'
  properties: metricsOnly
}

resource notificationHubDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [for (namespaceName, index) in notificationHubNamespaceNames: {
  scope: notificationHubNamespace[index]
  name: 'to-log-analytics'
  properties: logsAndMetrics
}]
