// The Function App on the Flex Consumption plan (Linux, Python 3.11). Flex takes the runtime from
// functionAppConfig and refuses FUNCTIONS_WORKER_RUNTIME as an app setting.
param name string
param planName string
param location string
param identityId string
param storageBlobEndpoint string
param deploymentContainer string
param instanceMemoryMb int
param maximumInstances int
@description('VNet integration subnet, or empty.')
param subnetId string
@description('The app settings with fixed names, name => value (built in main.bicep).')
param appSettings object
@description('The indexed app settings (PUSH_HUB_<n>_*), [{ name, value }] (built in main.bicep).')
param indexedAppSettings array
param tags object

var appSettingList = [for setting in items(appSettings): {
  name: setting.key
  value: setting.value
}]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption (FC1) has no zone-redundancy setting on the plan.
  name: planName
  location: location
  kind: 'functionapp'
  tags: tags
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:The HTTP API serves the app backend and partners over the internet (function keys plus their own credentials); its dependencies are private with privateNetworking.
  // checkov:skip=CKV_AZURE_17:Callers authenticate with function keys plus their own credentials (DESIGN.md); mutual TLS is not part of the partners' contract.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales to zero on purpose; always-ready instances would cost at idle.
  // checkov:skip=CKV_AZURE_213:Flex Consumption replaces unhealthy instances itself; App Service health-check pings would keep an instance running at idle.
  name: name
  location: location
  kind: 'functionapp,linux'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    clientCertMode: 'Optional'
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: concat(appSettingList, indexedAppSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMb
        maximumInstanceCount: maximumInstances
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No FTP and no basic-auth publishing: deployments use Entra ID (the workflow's OIDC login).
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
