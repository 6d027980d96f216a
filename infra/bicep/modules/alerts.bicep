// Alerts, one metric alert per entry of metricAlerts (the same list as ../terraform/alerts.tf):
// queue backlog and dead letters per queue, function failures, 5xx and availability of
// /api/health, Cosmos DB 429s and RU consumption, Notification Hubs failures and platform (PNS)
// errors per hub, failed SNAT connections on the NAT Gateway, and instances nearing the maximum
// the memory quota allows.
param base string
param location string
param actionGroupName string
param emails array
param servicebusNamespaceId string
param appInsightsId string
param cosmosAccountId string
param siteId string
param siteHostName string
param natGatewayId string
@description('The resource id of each partition\'s hub, in partition order.')
param hubIds array
param functionMaximumInstances int
param queueBacklog int
param functionFailures int
param serverErrors int
param cosmosThrottledRequests int
param cosmosRuPercent int
param hubFailures int
param tags object

var commonAlerts = [
  {
    key: 'queue_backlog'
    scope: servicebusNamespaceId
    namespace: 'Microsoft.ServiceBus/namespaces'
    metric: 'ActiveMessages'
    aggregation: 'Maximum'
    operator: 'GreaterThan'
    threshold: queueBacklog
    dimensions: {
      EntityName: [
        '*'
      ]
    }
    description: 'A queue is backing up: its consumer is failing, throttled or at its maximum instances.'
  }
  {
    key: 'dead_letters'
    scope: servicebusNamespaceId
    namespace: 'Microsoft.ServiceBus/namespaces'
    metric: 'DeadletteredMessages'
    aggregation: 'Maximum'
    operator: 'GreaterThan'
    threshold: 0
    dimensions: {
      EntityName: [
        '*'
      ]
    }
    description: 'Dead-lettered messages on a queue (list and replay them through the operator routes).'
  }
  {
    key: 'function_failures'
    scope: appInsightsId
    namespace: 'Microsoft.Insights/components'
    metric: 'requests/failed'
    aggregation: 'Count'
    operator: 'GreaterThan'
    threshold: functionFailures
    dimensions: {}
    description: 'Function invocations are failing.'
  }
  {
    key: 'http_5xx'
    scope: siteId
    namespace: 'Microsoft.Web/sites'
    metric: 'Http5xx'
    aggregation: 'Total'
    operator: 'GreaterThan'
    threshold: serverErrors
    dimensions: {}
    description: 'The API answers 5xx: a dependency is down or throttling (503) or the app fails (500).'
  }
  {
    key: 'availability'
    scope: appInsightsId
    namespace: 'Microsoft.Insights/components'
    metric: 'availabilityResults/availabilityPercentage'
    aggregation: 'Average'
    operator: 'LessThan'
    threshold: 100
    dimensions: {}
    description: '/api/health failed from at least one location: a dependency is down or the app does not start.'
  }
  {
    key: 'cosmos_throttling'
    scope: cosmosAccountId
    namespace: 'Microsoft.DocumentDB/databaseAccounts'
    metric: 'TotalRequests'
    aggregation: 'Count'
    operator: 'GreaterThan'
    threshold: cosmosThrottledRequests
    dimensions: {
      StatusCode: [
        '429'
      ]
    }
    description: 'Cosmos DB is throttling requests (429): raise the container\'s autoscale maximum or look for a hot partition.'
  }
  {
    key: 'cosmos_ru'
    scope: cosmosAccountId
    namespace: 'Microsoft.DocumentDB/databaseAccounts'
    metric: 'NormalizedRUConsumption'
    aggregation: 'Maximum'
    operator: 'GreaterThan'
    threshold: cosmosRuPercent
    dimensions: {
      CollectionName: [
        '*'
      ]
    }
    description: 'A container uses most of its autoscale maximum: 429s come next.'
  }
  {
    key: 'snat_failures'
    scope: natGatewayId
    namespace: 'Microsoft.Network/natGateways'
    metric: 'SNATConnectionCount'
    aggregation: 'Total'
    operator: 'GreaterThan'
    threshold: 0
    dimensions: {
      ConnectionState: [
        'Failed'
      ]
    }
    description: 'Outbound connections fail at the NAT Gateway: SNAT ports are running out (add a public IP) or a partner refuses.'
  }
  {
    key: 'instances'
    scope: siteId
    namespace: 'Microsoft.Web/sites'
    metric: 'InstanceCount'
    aggregation: 'Maximum'
    operator: 'GreaterThan'
    threshold: (functionMaximumInstances * 8) / 10
    dimensions: {}
    description: 'The app runs over 80% of its maximum instances, which the regional memory quota caps: request more quota (infra/README.md).'
  }
]

var hubFailedRequests = [for (hubId, index) in hubIds: {
  key: 'hub_${index + 1}_failed_requests'
  scope: hubId
  namespace: 'Microsoft.NotificationHubs/namespaces/notificationHubs'
  metric: 'incoming.all.failedrequests'
  aggregation: 'Total'
  operator: 'GreaterThan'
  threshold: hubFailures
  dimensions: {}
  description: 'Notification Hubs refuses requests (throttling, quota, credentials).'
}]

var hubPnsErrors = [for (hubId, index) in hubIds: {
  key: 'hub_${index + 1}_pns_errors'
  scope: hubId
  namespace: 'Microsoft.NotificationHubs/namespaces/notificationHubs'
  metric: 'outgoing.allpns.pnserror'
  aggregation: 'Total'
  operator: 'GreaterThan'
  threshold: hubFailures
  dimensions: {}
  description: 'APNs or FCM refuse notifications: check the hub\'s credentials.'
}]

var metricAlerts = concat(commonAlerts, hubFailedRequests, hubPnsErrors)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'cstella'
    enabled: true
    emailReceivers: [for (email, index) in emails: {
      name: 'email-${index}'
      emailAddress: email
      useCommonAlertSchema: true
    }]
  }
}

// /api/health from three European locations every five minutes (anonymous: it says nothing
// about citizens, only whether each dependency answers).
resource health 'Microsoft.Insights/webtests@2022-06-15' = {
  name: '${base}-health'
  location: location
  tags: union(tags, {
    'hidden-link:${appInsightsId}': 'Resource'
  })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: '${base}-health'
    Name: '${base}-health'
    Kind: 'standard'
    Enabled: true
    Frequency: 300
    Timeout: 30
    Locations: [
      {
        Id: 'emea-nl-ams-azr'
      }
      {
        Id: 'emea-gb-db3-azr'
      }
      {
        Id: 'emea-fr-pra-edge'
      }
    ]
    Request: {
      RequestUrl: 'https://${siteHostName}/api/health'
      HttpVerb: 'GET'
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
    }
  }
}

resource alert 'Microsoft.Insights/metricAlerts@2018-03-01' = [for item in metricAlerts: {
  name: '${base}-${replace(item.key, '_', '-')}'
  location: 'global'
  tags: tags
  properties: {
    description: item.description
    severity: 2
    enabled: true
    scopes: [
      item.scope
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: item.key
          metricNamespace: item.namespace
          metricName: item.metric
          timeAggregation: item.aggregation
          operator: item.operator
          threshold: item.threshold
          dimensions: [for dimension in items(item.dimensions): {
            name: dimension.key
            operator: 'Include'
            values: dimension.value
          }]
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}]
