// One Notification Hubs partition: namespace, hub (APNs and FCM v1 credentials), the app's rule,
// and its connection string in Key Vault (Notification Hubs has no Entra ID data plane). The rule
// has Listen (the app creates, patches and deletes installations: a Send-only rule gets 401 on
// every one, tests/integration/test_push_client.py) and Send (notifications), not Manage (which
// could rewrite the hub's credentials and rules).
param namespaceName string
param hubName string
param appRuleName string
param location string
param sku string
@description('{ bundle_id, key_id, team_id, endpoint }, or empty.')
param apns object
@secure()
param apnsToken string
@description('{ client_email, project_id }, or empty.')
param fcmV1 object
@secure()
param fcmV1PrivateKey string
param keyVaultName string
param connectionSecretName string
@allowed(['primary', 'secondary'])
param keyInUse string
param tags object

var apnsCredential = empty(apns) ? {} : {
  apnsCredential: {
    properties: {
      appId: apns.team_id
      appName: apns.bundle_id
      keyId: apns.key_id
      token: apnsToken
      endpoint: apns.endpoint == 'production' ? 'https://api.push.apple.com:443/3/device' : 'https://api.development.push.apple.com:443/3/device'
    }
  }
}

var fcmV1Credential = empty(fcmV1) ? {} : {
  fcmV1Credential: {
    properties: {
      clientEmail: fcmV1.client_email
      projectId: fcmV1.project_id
      privateKey: fcmV1PrivateKey
    }
  }
}

resource namespace 'Microsoft.NotificationHubs/namespaces@2023-10-01-preview' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    namespaceType: 'NotificationHub'
  }
}

resource hub 'Microsoft.NotificationHubs/namespaces/notificationHubs@2023-10-01-preview' = {
  parent: namespace
  name: hubName
  location: location
  tags: tags
  properties: union(apnsCredential, fcmV1Credential)
}

resource appRule 'Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules@2023-10-01-preview' = {
  parent: hub
  name: appRuleName
  properties: {
    rights: [
      'Listen'
      'Send'
    ]
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource connection 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:Rotated by flipping notificationHubsKeyInUse (infra/README.md), not on a fixed date.
  parent: vault
  name: connectionSecretName
  properties: {
    value: keyInUse == 'primary' ? appRule.listKeys().primaryConnectionString : appRule.listKeys().secondaryConnectionString
    contentType: 'Notification Hubs connection string (${keyInUse} key)'
  }
}

output hubId string = hub.id
output hubName string = hub.name
output secretUri string = connection.properties.secretUri
