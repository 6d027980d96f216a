// Cosmos DB (NoSQL): the account, the database and every container the code uses, created here
// because the app's identity has data-plane rights only. Keys are off: the app uses its identity.
param name string
param location string
param databaseName string
@allowed(['serverless', 'autoscale'])
param capacityMode string
param autoscaleMaxThroughput int
param zoneRedundant bool
@description('Container key => { setting, name, partitionKey, defaultTtl, uniqueKeys: [{ paths }] }.')
param containers object
param privateNetworking bool
param tags object

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
    enableAutomaticFailover: false
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: zoneRedundant
      }
    ]
    capabilities: capacityMode == 'serverless' ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

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
  }
}]

output id string = account.id
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
