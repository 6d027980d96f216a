// Cosmos DB (NoSQL): the account, the database and every container the code uses, created here
// because the app's identity has data-plane rights only. Keys are off: the app uses its identity.
// Production: autoscale throughput per container where the load is (sized by the capacity model,
// docs/capacity.md), the database's shared throughput for the rest, a second region with
// automatic failover, and 30 days of continuous backup (Azure Verified Modules' default).
param name string
param location string
@description('A second region with automatic failover, or empty.')
param secondaryLocation string
param databaseName string
@allowed(['serverless', 'autoscale'])
param capacityMode string
@description('Maximum RU/s of the database\'s shared throughput (autoscale).')
param autoscaleMaxThroughput int
@description('Container key => maximum RU/s of the containers with throughput of their own (autoscale).')
param containerAutoscaleMaxThroughput object
param zoneRedundant bool
@description('Container key => { setting, name, partitionKey, defaultTtl, uniqueKeys: [{ paths }] }.')
param containers object
param privateNetworking bool
param tags object

var secondary = empty(secondaryLocation) ? [] : [
  {
    locationName: secondaryLocation
    failoverPriority: 1
    isZoneRedundant: zoneRedundant
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  // checkov:skip=CKV_AZURE_101:Public network access is off with privateNetworking (prod); dev keeps it on, with keys disabled so only Entra ID RBAC gets in.
  // checkov:skip=CKV_AZURE_99:Access is restricted by private endpoints with privateNetworking; dev relies on Entra ID RBAC with local auth off.
  name: name
  location: location
  kind: 'GlobalDocumentDB'
  tags: tags
  properties: {
    databaseAccountOfferType: 'Standard'
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    minimalTlsVersion: 'Tls12'
    enableAutomaticFailover: !empty(secondaryLocation)
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: concat([
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: zoneRedundant
      }
    ], secondary)
    capabilities: capacityMode == 'serverless' ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous30Days'
      }
    }
  }
}

// Shared by the containers without throughput of their own.
resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: capacityMode == 'autoscale' ? {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    } : {}
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for item in items(containers): {
  parent: database
  name: item.value.name
  properties: {
    resource: {
      id: item.value.name
      partitionKey: {
        paths: [
          item.value.partitionKey
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: item.value.defaultTtl
      uniqueKeyPolicy: {
        uniqueKeys: item.value.uniqueKeys
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/"_etag"/?'
          }
        ]
      }
    }
    // Dedicated autoscale throughput where the capacity model puts the load.
    options: capacityMode == 'autoscale' && contains(containerAutoscaleMaxThroughput, item.key) ? {
      autoscaleSettings: {
        maxThroughput: containerAutoscaleMaxThroughput[item.key]
      }
    } : {}
  }
}]

output id string = account.id
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
