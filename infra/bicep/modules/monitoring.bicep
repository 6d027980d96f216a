// Log Analytics and Application Insights, local (key) authentication off on both: telemetry is
// ingested with Entra ID (Monitoring Metrics Publisher, roles.bicep).
param logAnalyticsName string
param appInsightsName string
param location string
param retentionDays int
param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  kind: 'web'
  tags: tags
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

output workspaceId string = workspace.id
output appInsightsId string = appInsights.id
// The connection string holds the instrumentation key, which is not a secret (ingestion needs Entra ID).
output appInsightsConnectionString string = appInsights.properties.ConnectionString
