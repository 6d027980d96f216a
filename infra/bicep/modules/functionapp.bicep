// The Function App on the Flex Consumption plan (Linux, Python 3.11). Flex takes the runtime from
// functionAppConfig and refuses FUNCTIONS_WORKER_RUNTIME as an app setting. Scale: HTTP
// per-instance concurrency, always-ready instances and the maximum come from the capacity model
// (docs/capacity.md, python -m bench.capacity). The app settings are exactly the ones given:
// no AzureWebJobsStorage connection string, the host and the app use the identity.
param name string
param planName string
param location string
param identityId string
param storageBlobEndpoint string
param deploymentContainer string
param instanceMemoryMb int
param maximumInstances int
@description('HTTP requests one instance serves at once (Python\'s default on Flex is 1).')
param httpPerInstanceConcurrency int
@description('Scale group ("http", "function:<name>") => always-ready instances.')
param alwaysReady object
@description('Spread the plan over availability zones.')
param zoneRedundant bool
@description('The VNet integration subnet (behind the NAT Gateway).')
param subnetId string
@description('The app settings with fixed names, name => value (built in main.bicep).')
param appSettings object
@description('The indexed app settings (PUSH_HUB_<n>_*), [{ name, value }] (built in main.bicep).')
param indexedAppSettings array
param tags object
@description('The back office\'s Entra ID app registration (client id) and tenant.')
param backofficeClientId string
param backofficeTenantId string

var appSettingList = [for setting in items(appSettings): {
  name: setting.key
  value: setting.value
}]

var alwaysReadyList = [for group in items(alwaysReady): {
  name: group.key
  instanceCount: group.value
}]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy is an input (functionZoneRedundant), on in production; dev runs in one zone because a zone-redundant Flex plan keeps two always-ready instances per scale group, billed at idle.
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
    // Flex spreads instances over the region's zones and keeps at least two always-ready
    // instances per scale group (Azure reliability guide for Functions).
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:The HTTP API serves the app backend and partners over the internet (function keys plus their own credentials); its dependencies are private with privateNetworking.
  // checkov:skip=CKV_AZURE_17:Callers authenticate with function keys plus their own credentials (DESIGN.md); mutual TLS is not part of the partners' contract.
  // checkov:skip=CKV_AZURE_212:Flex Consumption has no worker count: its floor is alwaysReady per scale group (an input, from the capacity model), and dev scales to zero on purpose.
  // checkov:skip=CKV_AZURE_213:Flex Consumption replaces unhealthy instances itself; App Service health-check pings would keep an instance running at idle.
  name: name
  location: location
  kind: 'functionapp,linux'
  // azd deploys to the one resource carrying this tag (not the plan).
  tags: union(tags, {
    'azd-service-name': 'api'
  })
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
    virtualNetworkSubnetId: subnetId
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
        alwaysReady: alwaysReadyList
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
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

// The back office's sign-in: App Service authentication with Entra ID, letting unauthenticated
// requests through (machine callers keep their own credentials); the app reads the signed-in
// user from X-MS-CLIENT-PRINCIPAL (PLATFORM_AUTH_ENABLED). Same body as ../../terraform/backoffice_auth.tf.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:this resource IS the App Service authentication; checkov reads every sites/config as the web settings.
  // checkov:skip=CKV_AZURE_63:checkov reads every Microsoft.Web/sites/config as the site's web settings; this is authsettingsV2, which has no such property (the app logs to Application Insights).
  // checkov:skip=CKV_AZURE_65:checkov reads every Microsoft.Web/sites/config as the site's web settings; this is authsettingsV2, which has no such property (the app logs to Application Insights).
  // checkov:skip=CKV_AZURE_66:checkov reads every Microsoft.Web/sites/config as the site's web settings; this is authsettingsV2, which has no such property (the app logs to Application Insights).
  // checkov:skip=CKV_AZURE_80:checkov reads every Microsoft.Web/sites/config as the site's web settings; this is authsettingsV2, which has no such property (a Python app: no .NET Framework).
  // checkov:skip=CKV_AZURE_88:checkov reads every Microsoft.Web/sites/config as the site's web settings; this is authsettingsV2, which has no such property (Flex Consumption deploys from Blob storage).
  // checkov:skip=CKV_AZURE_222:checkov reads every Microsoft.Web/sites/config as the site's web settings; this is authsettingsV2, which has no such property (the site's publicNetworkAccess is set on the site).
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: backofficeClientId
          openIdIssuer: 'https://login.microsoftonline.com/${backofficeTenantId}/v2.0'
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output backofficeRedirectUri string = 'https://${site.properties.defaultHostName}/.auth/login/aad/callback'
