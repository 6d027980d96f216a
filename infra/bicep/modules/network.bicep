// Networking. In every environment the Function App's outbound traffic leaves through its VNet
// integration subnet and a NAT Gateway with a static public IP (as pagoPA's function subnets do):
// one known address for partners to allow, explicit SNAT ports (64,512 per public IP) instead of
// the platform's implicit SNAT (the path of the 2020 outage), and metrics and an alert on failed
// connections (alerts.bicep). With privateNetworking, storage, Cosmos DB, Service Bus (Premium)
// and Key Vault are reached through private endpoints and private DNS zones.
param base string
param vnetName string
param natGatewayName string
param natPublicIpName string
param location string
param addressSpace string
param functionsSubnetPrefix string
param privateNetworking bool
param privateEndpointsSubnetPrefix string
param storageAccountId string
param cosmosAccountId string
param servicebusNamespaceId string
param keyVaultId string
param tags object

var privateEndpoints = privateNetworking ? [
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
] : []

var functionsSubnet = {
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
    natGateway: {
      id: natGateway.id
    }
  }
}

var privateEndpointsSubnet = {
  name: 'private-endpoints'
  properties: {
    addressPrefix: privateEndpointsSubnetPrefix
  }
}

// The app's one way out to the internet (Notification Hubs, the PSP, the bank check, JWKS, the
// stations): a static address, and SNAT ports that are counted and alerted on.
resource natPublicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: natPublicIpName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
  }
}

resource natGateway 'Microsoft.Network/natGateways@2024-05-01' = {
  name: natGatewayName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [
      {
        id: natPublicIp.id
      }
    ]
  }
}

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
    subnets: concat([functionsSubnet], privateNetworking ? [privateEndpointsSubnet] : [])
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
      id: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, privateEndpointsSubnet.name)
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
  dependsOn: [
    dnsLink
  ]
}]

output functionsSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, functionsSubnet.name)
output natGatewayId string = natGateway.id
output natPublicIpId string = natPublicIp.id
output outboundIpAddress string = natPublicIp.properties.ipAddress
