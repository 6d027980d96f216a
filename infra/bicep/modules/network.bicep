// Optional private networking: VNet integration of the Function App's outbound traffic, private
// endpoints for storage, Cosmos DB, Service Bus (Premium) and Key Vault, and private DNS zones.
param base string
param vnetName string
param location string
param addressSpace string
param functionsSubnetPrefix string
param privateEndpointsSubnetPrefix string
param storageAccountId string
param cosmosAccountId string
param servicebusNamespaceId string
param keyVaultId string
param tags object

var privateEndpoints = [
  {
    key: 'storage-blob'
    resourceId: storageAccountId
    subresource: 'blob'
    dnsZone: 'privatelink.blob.${az.environment().suffixes.storage}'
  }
  {
    key: 'storage-queue'
    resourceId: storageAccountId
    subresource: 'queue'
    dnsZone: 'privatelink.queue.${az.environment().suffixes.storage}'
  }
  {
    key: 'storage-table'
    resourceId: storageAccountId
    subresource: 'table'
    dnsZone: 'privatelink.table.${az.environment().suffixes.storage}'
  }
  {
    key: 'cosmos'
    resourceId: cosmosAccountId
    subresource: 'Sql'
    dnsZone: 'privatelink.documents.azure.com'
  }
  {
    key: 'servicebus'
    resourceId: servicebusNamespaceId
    subresource: 'namespace'
    dnsZone: 'privatelink.servicebus.windows.net'
  }
  {
    key: 'key-vault'
    resourceId: keyVaultId
    subresource: 'vault'
    dnsZone: 'privatelink.vaultcore.azure.net'
  }
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressSpace
      ]
    }
    subnets: [
      {
        name: 'functions'
        properties: {
          addressPrefix: functionsSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointsSubnetPrefix
        }
      }
    ]
  }
}

resource dnsZone 'Microsoft.Network/privateDnsZones@2020-06-01' = [for endpoint in privateEndpoints: {
  name: endpoint.dnsZone
  location: 'global'
  tags: tags
}]

resource dnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (endpoint, index) in privateEndpoints: {
  parent: dnsZone[index]
  name: '${vnetName}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = [for (item, index) in privateEndpoints: {
  name: '${base}-${item.key}-pep'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: vnet.properties.subnets[1].id
    }
    privateLinkServiceConnections: [
      {
        name: '${base}-${item.key}'
        properties: {
          privateLinkServiceId: item.resourceId
          groupIds: [
            item.subresource
          ]
        }
      }
    ]
  }
}]

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (item, index) in privateEndpoints: {
  parent: endpoint[index]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'default'
        properties: {
          privateDnsZoneId: dnsZone[index].id
        }
      }
    ]
  }
}]

output functionsSubnetId string = vnet.properties.subnets[0].id
