// Centro Stella: the whole platform, at subscription scope (azd up, or az deployment sub create).
// The Terraform flavour in ../terraform declares the same; tests/infra keeps the two equivalent.
targetScope = 'subscription'

@description('Naming: { prefix, name, location }. prefix: 2 to 10 lower-case letters or digits; name: dev, uat or prod; location: a region with a short code below. Every resource name is built from it.')
param environment object

@description('Tags added to every resource, beside the environment ones.')
param tags object = {}

// Function App (Flex Consumption)

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([512, 2048, 4096])
param functionInstanceMemoryMb int = 2048

@description('Most instances the app scales out to, within the regional memory quota (functionMemoryQuotaMb) and the integration subnet; production\'s value comes from the capacity model (docs/capacity.md).')
@minValue(1)
@maxValue(1000)
param functionMaximumInstances int = 100

@description('The subscription\'s regional memory quota for Flex Consumption instances, in MB (512,000 by default); raised by a support request (infra/README.md).')
param functionMemoryQuotaMb int = 512000

@description('HTTP requests one instance serves at once (Flex\'s per-instance concurrency; Python\'s default is 1). From the measured figure in docs/capacity.md.')
@minValue(1)
@maxValue(1000)
param functionHttpPerInstanceConcurrency int = 32

@description('Always-ready instances per scale group: "http" for every HTTP function, "function:<name>" for one queue function. Billed while idle.')
param functionAlwaysReady object = {}

@description('Spread the Flex Consumption plan over the region\'s availability zones.')
param functionZoneRedundant bool = false

// The back office's sign-in (App Service authentication with Entra ID): docs/backoffice.md

@description('Client (application) id of the back office\'s Entra ID app registration. Register https://<function app>/.auth/login/aad/callback as its redirect URI (output backofficeRedirectUri) and enable ID tokens.')
param backofficeClientId string

@description('The Entra ID tenant (directory) id whose users sign in to the back office.')
param backofficeTenantId string

@description('CITIZEN_JWT_ISSUER: the iss of the app backend\'s citizen tokens.')
param citizenJwtIssuer string

@description('CITIZEN_JWT_AUDIENCE: the aud the citizen tokens carry for this service.')
param citizenJwtAudience string

@description('CITIZEN_JWKS_URL: where the app backend publishes its token keys (or set citizenJwtPublicKey).')
param citizenJwksUrl string = ''

@description('CITIZEN_JWT_PUBLIC_KEY: one PEM public key, when there is no JWKS URL. Public, not a secret.')
param citizenJwtPublicKey string = ''

// Wallet

@description('WALLET_PSP_ID: the party id of the PSP whose hosted page onboards payment instruments.')
@minLength(1)
param walletPspId string

@description('WALLET_PSP_BASE_URL: the PSP\'s onboarding API (https).')
param walletPspBaseUrl string

@description('WALLET_RETURN_URL: where the PSP\'s hosted page sends the citizen back (https).')
param walletReturnUrl string

@description('WALLET_NOTIFICATION_URL: the base of the routes where the payment gateway posts onboarding outcomes (https, no query); empty: this app\'s own address, https://<function app>.azurewebsites.net/api/v1/wallets. Never taken from a request.')
param walletNotificationUrl string = ''

@description('CASHBACK_BANK_CHECK_URL: the bank-check service that says whether an IBAN belongs to a citizen (https).')
param cashbackBankCheckUrl string

@description('CASHBACK_HPAN_SALT: the salt PANs are hashed with (SHA-256 of PAN + salt), served to acquirers; PSPs and acquirers hold it, so it is not the app\'s secret.')
@minLength(16)
param cashbackHpanSalt string

@description('CASHBACK_PGP_PASSPHRASE_SECRET: the Key Vault secret holding the passphrase of the PGP private key (secret cashback-pgp-private-key); empty: the key has none.')
param cashbackPgpPassphraseSecret string = ''

@description('Acquirers delivering files by SFTP: party id (capital letters and digits) -> the public SSH keys of its SFTP local user, each { key (OpenSSH format), description }; each gets a container rtd-<id in lower case>.')
param cashbackAcquirers object = {}

// Timers: NCRONTAB schedules (second minute hour day month day-of-week), which the timer triggers
// bind by setting name (%OUTBOX_SWEEP_SCHEDULE% and the like); modules/checks.bicep checks their shape.

@description('OUTBOX_SWEEP_SCHEDULE: when the outbox sweep re-sends events left in documents\' outboxes.')
param outboxSweepSchedule string = '*/30 * * * * *'

@description('NOTICES_EXPIRE_SCHEDULE: when valid notices past their expiration date become expired.')
param noticesExpireSchedule string = '0 */5 * * * *'

@description('CASHBACK_RANK_SCHEDULE: when the periods still taking transactions are ranked.')
param cashbackRankSchedule string = '0 0 * * * *'

@description('CASHBACK_PAYOUTS_SCHEDULE: when the payout lists of closed periods are written.')
param cashbackPayoutsSchedule string = '0 30 2 * * *'

@description('CASHBACK_HPAN_LIST_SCHEDULE: when the list of hashed PANs enabled for cashback is written for acquirers.')
param cashbackHpanListSchedule string = '0 0 1 * * *'

@description('STANDIN_EVALUATE_SCHEDULE: when stations in stand-in are probed and the entry and exit rules applied.')
param standinEvaluateSchedule string = '0 */5 * * * *'

@description('PAYMENTS_RECONCILE_SCHEDULE: when payments a crash or a timeout left in flight are finished from the gateway\'s state.')
param paymentsReconcileSchedule string = '0 * * * * *'

// Cosmos DB

@description('serverless (pay per request, nothing at idle, one region) or autoscale (provisioned throughput: per container where cosmosContainerAutoscaleMaxThroughput names one, else the database\'s shared throughput).')
@allowed(['serverless', 'autoscale'])
param cosmosCapacityMode string = 'serverless'

@description('Autoscale only: the maximum RU/s of the database\'s shared throughput, used by the containers without throughput of their own.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Autoscale only: maximum RU/s of the containers with throughput of their own, by container key (wallet, cashback, notices, standin...); from the capacity model.')
param cosmosContainerAutoscaleMaxThroughput object = {}

@description('A second region for the Cosmos DB account, with automatic failover; empty: one region. Needs autoscale.')
param cosmosSecondaryLocation string = ''

@description('COSMOS_DATABASE: the NoSQL database holding every container.')
param cosmosDatabaseName string = 'centro-stella'

@description('Spread the Cosmos DB account over availability zones.')
param cosmosZoneRedundant bool = false

// Service Bus

@description('Standard, or Premium (needed for private endpoints).')
@allowed(['Standard', 'Premium'])
param servicebusSku string = 'Standard'

@description('Premium only: messaging units.')
@allowed([1, 2, 4, 8, 16])
param servicebusPremiumMessagingUnits int = 1

@description('Deliveries before the broker dead-letters a message; also SERVICEBUS_MAX_DELIVERY_COUNT.')
@minValue(1)
@maxValue(100)
param servicebusMaxDeliveryCount int = 10

@description('Peek-lock duration of the queues, in seconds.')
@minValue(5)
@maxValue(300)
param servicebusLockDurationSeconds int = 60

@description('Duplicate detection window of the queues, in seconds.')
@minValue(20)
@maxValue(604800)
param servicebusDuplicateDetectionWindowSeconds int = 600

@description('Dead-letter messages whose time to live expires instead of dropping them.')
param servicebusDeadLetteringOnExpiry bool = true

@description('Time to live of queued messages, in days.')
@minValue(1)
@maxValue(14)
param servicebusMessageTtlDays int = 14

// Notification Hubs

@description('One namespace and hub per partition, numbered from 1 (PUSH_HUB_<n>_*): [{ digits }], the hex digits of the installations it holds, as the app reads them ("0-3", "4,5,6", "a-f"); together they cover 0-f once.')
@minLength(1)
param notificationHubPartitions array = [
  {
    digits: '0-f'
  }
]

@description('Notification Hubs namespace tier.')
@allowed(['Free', 'Basic', 'Standard'])
param notificationHubsSku string = 'Free'

@description('Which key of each hub\'s send rule the app uses: flip it to rotate keys (infra/README.md).')
@allowed(['primary', 'secondary'])
param notificationHubsKeyInUse string = 'primary'

@description('APNs token authentication: { bundle_id, key_id, team_id, endpoint (production or sandbox) }; empty leaves the hubs without APNs.')
param apns object = {}

@secure()
@description('APNs signing key (.p8 content).')
param apnsToken string = ''

@description('FCM v1 service account: { client_email, project_id }; empty leaves the hubs without FCM.')
param fcmV1 object = {}

@secure()
@description('FCM v1 service account private key (PEM).')
param fcmV1PrivateKey string = ''

// Key Vault

@secure()
@description('Per-party secrets (PSP signing secrets, station credentials), secret name => value.')
param partySecrets object = {}

// Storage

@description('Replication of the Functions storage account.')
@allowed(['LRS', 'ZRS', 'GRS', 'GZRS'])
param storageReplication string = 'LRS'

// Networking

@description('Private endpoints for storage, Cosmos DB, Service Bus and Key Vault, and their public network access off. Needs servicebusSku = Premium. (The VNet integration and the NAT Gateway exist in every environment.)')
param privateNetworking bool = false

@description('The VNet\'s address space.')
param vnetAddressSpace string = '10.20.0.0/16'

@description('The Function App\'s integration subnet (delegated to Microsoft.App/environments, behind the NAT Gateway): 2 x maximum instances + 5 addresses.')
param functionsSubnetPrefix string = '10.20.0.0/24'

@description('Private networking only: the private endpoints subnet, inside the VNet.')
param privateEndpointsSubnetPrefix string = '10.20.2.0/24'

// Monitoring

@description('Log Analytics retention, in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Who the alerts are e-mailed to.')
param alertEmails array = []

@description('Failed function invocations in 5 minutes above which the failure alert fires.')
param alertFunctionFailures int = 5

@description('Active messages on one queue above which the backlog alert fires.')
param alertQueueBacklog int = 10000

@description('HTTP 5xx answers in 5 minutes above which the 5xx alert fires.')
param alertServerErrors int = 50

@description('Normalized RU consumption (percent of a container\'s maximum) above which the RU alert fires.')
param alertCosmosRuPercent int = 90

@description('Failed requests or platform (APNs/FCM) errors of one hub in 5 minutes above which its alerts fire.')
param alertHubFailures int = 10

@description('Cosmos DB requests answered 429 in 5 minutes above which the throttling alert fires.')
param alertCosmosThrottledRequests int = 50

var locationShort = {
  italynorth: 'itn'
  westeurope: 'weu'
  northeurope: 'neu'
  germanywestcentral: 'gwc'
  swedencentral: 'sdc'
  francecentral: 'frc'
}

var region = contains(locationShort, environment.location) ? locationShort[environment.location] : 'unknown'

// "<prefix>-<env>-<region>", e.g. "cstella-prod-itn".
var base = '${environment.prefix}-${environment.name}-${region}'

var names = {
  resourceGroup: '${base}-rg'
  identity: '${base}-func-id'
  plan: '${base}-asp'
  functionApp: '${base}-func'
  storageAccount: '${environment.prefix}${environment.name}${region}func'
  filesStorageAccount: '${environment.prefix}${environment.name}${region}rtd'
  filesEventsTopic: '${base}-rtd-egst'
  deploymentContainer: 'app-package'
  logAnalytics: '${base}-log'
  appInsights: '${base}-appi'
  cosmosAccount: '${base}-cosmos'
  servicebus: '${base}-sbns'
  keyVault: '${base}-kv'
  notificationHubNamespace: '${base}-ntfns'
  notificationHub: '${base}-ntf'
  notificationHubAppRule: 'app-listen-send'
  vnet: '${base}-vnet'
  natGateway: '${base}-ng'
  natPublicIp: '${base}-ng-pip'
  actionGroup: '${base}-ag'
}

var allTags = union(tags, {
  project: 'centro-stella'
  environment: environment.name
})

// Every Cosmos DB container the code uses (shared/platform/resources.py CONTAINERS): partition key
// and default TTL (null: off; -1: on, only documents carrying a ttl expire). tests/infra evaluates
// the container resources built from this against the code.
var cosmosContainers = {
  parties: {
    setting: 'PARTIES_CONTAINER'
    name: 'parties'
    partitionKey: '/id'
    defaultTtl: null
    uniqueKeys: [] // [{ paths: [...] }]
  }
  failed_work: {
    setting: 'FAILED_WORK_CONTAINER'
    name: 'failed-work'
    partitionKey: '/id'
    defaultTtl: null
    uniqueKeys: []
  }
  wallet: {
    setting: 'WALLET_CONTAINER'
    name: 'wallet'
    partitionKey: '/pk'
    defaultTtl: -1 // finished instruments and sessions carry a ttl of 90 days
    uniqueKeys: []
  }
  push_installations: {
    setting: 'PUSH_INSTALLATIONS_CONTAINER'
    name: 'push-installations'
    partitionKey: '/id'
    defaultTtl: null
    uniqueKeys: []
  }
  cashback: {
    setting: 'CASHBACK_CONTAINER'
    name: 'cashback'
    partitionKey: '/pk'
    defaultTtl: null
    uniqueKeys: []
  }
  notices: {
    setting: 'NOTICES_CONTAINER'
    name: 'notices'
    partitionKey: '/pk'
    defaultTtl: null
    uniqueKeys: []
  }
  notice_bulks: {
    setting: 'NOTICE_BULKS_CONTAINER'
    name: 'notice-bulks'
    partitionKey: '/pk'
    defaultTtl: null
    uniqueKeys: []
  }
  standin: {
    setting: 'STANDIN_CONTAINER'
    name: 'standin'
    partitionKey: '/pk'
    defaultTtl: null
    uniqueKeys: []
  }
  payments: {
    setting: 'PAYMENTS_CONTAINER'
    name: 'payments'
    partitionKey: '/pk'
    defaultTtl: -1 // ended transactions carry a ttl of their own
    uniqueKeys: []
  }
  journal: {
    setting: 'JOURNAL_CONTAINER'
    name: 'journal'
    partitionKey: '/pk'
    defaultTtl: -1 // each entry carries JOURNAL_RETENTION_DAYS as its ttl
    uniqueKeys: []
  }
}

// Every Blob container the code writes to (shared/platform/resources.py BLOB_CONTAINERS), in the
// host's storage account: the app's identity cannot create containers, so they exist first.
var blobContainers = {
  notice_bulks: {
    setting: 'NOTICES_BLOB_CONTAINER'
    name: 'notice-bulks'
  }
  cashback_payouts: {
    setting: 'CASHBACK_PAYOUTS_BLOB_CONTAINER'
    name: 'cashback-payouts'
  }
  cashback_lists: {
    setting: 'CASHBACK_LISTS_BLOB_CONTAINER'
    name: 'cashback-lists'
  }
  payments_receipts: {
    setting: 'PAYMENTS_RECEIPTS_BLOB_CONTAINER'
    name: 'payments-receipts'
  }
  backoffice_print: {
    setting: 'BACKOFFICE_PRINT_BLOB_CONTAINER'
    name: 'backoffice-print'
    // print jobs' PDFs hold debtors' data: deleted a day after they are written
    expireAfterDays: 1
  }
}

// The containers whose blobs are deleted some days after their last change (lifecycle rule).
var expiringContainers = [
  {
    name: blobContainers.backoffice_print.name
    days: blobContainers.backoffice_print.expireAfterDays
  }
]

// Every Service Bus queue a trigger or a producer names (shared/platform/resources.py QUEUES).
var servicebusQueues = {
  wallet_events: {
    setting: 'WALLET_EVENTS_QUEUE'
    name: 'wallet-events'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  push: {
    setting: 'PUSH_QUEUE'
    name: 'push'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  cashback_transactions: {
    setting: 'CASHBACK_TRANSACTIONS_QUEUE'
    name: 'cashback-transactions'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  cashback_files: {
    setting: 'CASHBACK_FILES_QUEUE'
    name: 'cashback-files'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  iban_check: {
    setting: 'IBAN_CHECK_QUEUE'
    name: 'iban-check'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  notices: {
    setting: 'NOTICES_QUEUE'
    name: 'notices'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  standin_receipts: {
    setting: 'STANDIN_RECEIPTS_QUEUE'
    name: 'standin-receipts'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  payments_notices: {
    setting: 'PAYMENTS_NOTICES_QUEUE'
    name: 'payments-notices'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  journal: {
    setting: 'JOURNAL_QUEUE'
    name: 'journal'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  backoffice_positions: {
    setting: 'BACKOFFICE_POSITIONS_QUEUE'
    name: 'backoffice-positions'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
  backoffice_print: {
    setting: 'BACKOFFICE_PRINT_QUEUE'
    name: 'backoffice-print'
    lockSeconds: servicebusLockDurationSeconds
    duplicateWindowSeconds: servicebusDuplicateDetectionWindowSeconds
  }
}

// The checks Terraform's variable validations make; nothing is created until they pass.
module checks 'modules/checks.bicep' = {
  name: 'checks'
  params: {
    environment: environment
    knownLocations: locationShort
    names: names
    privateNetworking: privateNetworking
    servicebusSku: servicebusSku
    citizenJwksUrl: citizenJwksUrl
    citizenJwtPublicKey: citizenJwtPublicKey
    cosmosAutoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    cosmosContainerAutoscaleMaxThroughput: cosmosContainerAutoscaleMaxThroughput
    cosmosCapacityMode: cosmosCapacityMode
    cosmosSecondaryLocation: cosmosSecondaryLocation
    functionMaximumInstances: functionMaximumInstances
    functionInstanceMemoryMb: functionInstanceMemoryMb
    functionMemoryQuotaMb: functionMemoryQuotaMb
    functionAlwaysReady: functionAlwaysReady
    functionsSubnetPrefix: functionsSubnetPrefix
    notificationHubPartitions: notificationHubPartitions
    apns: apns
    walletPspBaseUrl: walletPspBaseUrl
    walletReturnUrl: walletReturnUrl
    walletNotificationUrl: walletNotificationUrl
    cashbackBankCheckUrl: cashbackBankCheckUrl
    timerSchedules: {
      OUTBOX_SWEEP_SCHEDULE: outboxSweepSchedule
      NOTICES_EXPIRE_SCHEDULE: noticesExpireSchedule
      CASHBACK_RANK_SCHEDULE: cashbackRankSchedule
      CASHBACK_PAYOUTS_SCHEDULE: cashbackPayoutsSchedule
      CASHBACK_HPAN_LIST_SCHEDULE: cashbackHpanListSchedule
      STANDIN_EVALUATE_SCHEDULE: standinEvaluateSchedule
      PAYMENTS_RECONCILE_SCHEDULE: paymentsReconcileSchedule
    }
  }
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  dependsOn: [
    checks
  ]
  name: names.resourceGroup
  location: environment.location
  tags: union(allTags, {
    'azd-env-name': environment.name
  })
}

module identity 'modules/identity.bicep' = {
  scope: rg
  name: 'identity'
  params: {
    name: names.identity
    location: environment.location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    location: environment.location
    retentionDays: logRetentionDays
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  scope: rg
  name: 'storage'
  params: {
    name: names.storageAccount
    deploymentContainer: names.deploymentContainer
    containers: blobContainers
    expiring: expiringContainers
    location: environment.location
    replication: storageReplication
    privateNetworking: privateNetworking
    tags: allTags
  }
}

module cosmos 'modules/cosmos.bicep' = {
  scope: rg
  name: 'cosmos'
  params: {
    name: names.cosmosAccount
    location: environment.location
    secondaryLocation: cosmosSecondaryLocation
    databaseName: cosmosDatabaseName
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    containerAutoscaleMaxThroughput: cosmosContainerAutoscaleMaxThroughput
    zoneRedundant: cosmosZoneRedundant
    containers: cosmosContainers
    privateNetworking: privateNetworking
    tags: allTags
  }
}

module servicebus 'modules/servicebus.bicep' = {
  scope: rg
  name: 'servicebus'
  params: {
    name: names.servicebus
    location: environment.location
    sku: servicebusSku
    premiumMessagingUnits: servicebusPremiumMessagingUnits
    queues: servicebusQueues
    maxDeliveryCount: servicebusMaxDeliveryCount
    deadLetteringOnExpiry: servicebusDeadLetteringOnExpiry
    messageTtlDays: servicebusMessageTtlDays
    privateNetworking: privateNetworking
    tags: allTags
  }
}

var filesContainerPrefix = 'rtd-'

module sftp 'modules/sftp.bicep' = {
  scope: rg
  name: 'sftp'
  params: {
    name: names.filesStorageAccount
    location: environment.location
    replication: storageReplication
    containerPrefix: filesContainerPrefix
    acquirers: cashbackAcquirers
    topicName: names.filesEventsTopic
    servicebusNamespaceName: names.servicebus
    queueName: servicebusQueues.cashback_files.name
    appPrincipalId: identity.outputs.principalId
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  scope: rg
  name: 'key-vault'
  params: {
    name: names.keyVault
    location: environment.location
    privateNetworking: privateNetworking
    partySecrets: partySecrets
    tags: allTags
  }
}

module notificationHubs 'modules/notificationhub.bicep' = [for (partition, index) in notificationHubPartitions: {
  scope: rg
  name: 'notification-hub-${index + 1}'
  params: {
    namespaceName: '${names.notificationHubNamespace}-${index + 1}'
    hubName: '${names.notificationHub}-${index + 1}'
    appRuleName: names.notificationHubAppRule
    location: environment.location
    sku: notificationHubsSku
    apns: apns
    apnsToken: apnsToken
    fcmV1: fcmV1
    fcmV1PrivateKey: fcmV1PrivateKey
    keyVaultName: keyVault.outputs.name
    connectionSecretName: 'notification-hub-${index + 1}-app'
    keyInUse: notificationHubsKeyInUse
    tags: allTags
  }
}]

module network 'modules/network.bicep' = {
  scope: rg
  name: 'network'
  params: {
    base: base
    vnetName: names.vnet
    natGatewayName: names.natGateway
    natPublicIpName: names.natPublicIp
    location: environment.location
    addressSpace: vnetAddressSpace
    functionsSubnetPrefix: functionsSubnetPrefix
    privateNetworking: privateNetworking
    privateEndpointsSubnetPrefix: privateEndpointsSubnetPrefix
    storageAccountId: storage.outputs.id
    cosmosAccountId: cosmos.outputs.id
    servicebusNamespaceId: servicebus.outputs.id
    keyVaultId: keyVault.outputs.id
    tags: allTags
  }
}

// Every app setting. tests/infra checks them against shared/platform/config.py: each Settings field is
// here (local-only ones aside), and nothing is here that neither the code, the host nor an SDK reads.
var appSettings = {
  // Functions host: storage and Service Bus trigger connections through the identity.
  AzureWebJobsStorage__accountName: names.storageAccount
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  ServiceBusConnection__fullyQualifiedNamespace: '${names.servicebus}.servicebus.windows.net'
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identity.outputs.clientId
  // Telemetry ingestion with Entra ID (local auth is off on Application Insights).
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identity.outputs.clientId}'
  // host.json's telemetryMode is OpenTelemetry: the worker streams its own spans and logs in the
  // host's trace, so host and worker telemetry correlate.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  // DefaultAzureCredential (Cosmos DB, Service Bus, Key Vault) picks the user-assigned identity.
  AZURE_CLIENT_ID: identity.outputs.clientId
  // Cosmos DB: no COSMOS_KEY, so the app uses its identity.
  COSMOS_ENDPOINT: cosmos.outputs.endpoint
  COSMOS_DATABASE: cosmos.outputs.databaseName
  COSMOS_ENDPOINT_DISCOVERY: 'true'
  COSMOS_TIMEOUT_SECONDS: '5'
  PARTIES_CONTAINER: cosmosContainers.parties.name
  FAILED_WORK_CONTAINER: cosmosContainers.failed_work.name
  WALLET_CONTAINER: cosmosContainers.wallet.name
  PUSH_INSTALLATIONS_CONTAINER: cosmosContainers.push_installations.name
  // Service Bus
  SERVICEBUS_TIMEOUT_SECONDS: '5'
  SERVICEBUS_MAX_DELIVERY_COUNT: string(servicebusMaxDeliveryCount)
  RESCHEDULE_MAX_ATTEMPTS: '8'
  RESCHEDULE_BASE_SECONDS: '60'
  RESCHEDULE_CAP_SECONDS: '3600'
  WALLET_EVENTS_QUEUE: servicebusQueues.wallet_events.name
  PUSH_QUEUE: servicebusQueues.push.name
  // Timers (NCRONTAB), bound by the timer triggers as %NAME_SCHEDULE%.
  OUTBOX_SWEEP_SCHEDULE: outboxSweepSchedule
  NOTICES_EXPIRE_SCHEDULE: noticesExpireSchedule
  CASHBACK_RANK_SCHEDULE: cashbackRankSchedule
  CASHBACK_PAYOUTS_SCHEDULE: cashbackPayoutsSchedule
  CASHBACK_HPAN_LIST_SCHEDULE: cashbackHpanListSchedule
  STANDIN_EVALUATE_SCHEDULE: standinEvaluateSchedule
  PAYMENTS_RECONCILE_SCHEDULE: paymentsReconcileSchedule
  // Push: one keep-alive session per Notification Hubs namespace (the hubs are PUSH_HUB_<n>_*).
  PUSH_CONNECTOR_LIMIT: '32'
  PUSH_CONNECTOR_LIMIT_PER_HOST: '32'
  PUSH_KEEPALIVE_SECONDS: '60'
  PUSH_TIMEOUT_SECONDS: '10'
  PUSH_CONNECT_TIMEOUT_SECONDS: '3'
  PUSH_RETRY_ATTEMPTS: '3'
  PUSH_RETRY_BASE_SECONDS: '0.2'
  PUSH_RETRY_CAP_SECONDS: '5'
  PUSH_SAS_TTL_SECONDS: '3600'
  PUSH_SAS_RENEW_SECONDS: '300'
  // Wallet: onboarding through the PSP's hosted page.
  WALLET_PSP_ID: walletPspId
  WALLET_PSP_BASE_URL: walletPspBaseUrl
  WALLET_PSP_TIMEOUT_SECONDS: '5'
  WALLET_RETURN_URL: walletReturnUrl
  // Where PSPs post outcomes: configuration only, by default this app's own address.
  WALLET_NOTIFICATION_URL: empty(walletNotificationUrl) ? 'https://${names.functionApp}.azurewebsites.net/api/v1/wallets' : walletNotificationUrl
  WALLET_SESSION_MINUTES: '30'
  WALLET_MAX_INSTRUMENTS: '20'
  // Cashback: empty CASHBACK_PERIODS means the programme's production periods.
  CASHBACK_PERIODS: ''
  CASHBACK_CONTAINER: cosmosContainers.cashback.name
  CASHBACK_TRANSACTIONS_QUEUE: servicebusQueues.cashback_transactions.name
  IBAN_CHECK_QUEUE: servicebusQueues.iban_check.name
  CASHBACK_BANK_CHECK_URL: cashbackBankCheckUrl
  CASHBACK_BANK_CHECK_TIMEOUT_SECONDS: '5'
  CASHBACK_PAYOUTS_BLOB_CONTAINER: blobContainers.cashback_payouts.name
  // Acquirers' files (modules/sftp.bicep): the SFTP-enabled account, its blob-created events' queue.
  CASHBACK_FILES_QUEUE: servicebusQueues.cashback_files.name
  CASHBACK_FILES_STORAGE_ACCOUNT: sftp.outputs.name
  CASHBACK_FILES_CONTAINER_PREFIX: filesContainerPrefix
  CASHBACK_FILES_LOCAL_EVENTS: 'false'
  CASHBACK_FILES_SLICE_SECONDS: '150' // under host.json's functionTimeout (300 s), with the skip on resume
  CASHBACK_PGP_PRIVATE_KEY_SECRET: 'cashback-pgp-private-key'
  CASHBACK_PGP_PASSPHRASE_SECRET: cashbackPgpPassphraseSecret
  CASHBACK_HPAN_SALT: cashbackHpanSalt
  CASHBACK_LISTS_BLOB_CONTAINER: blobContainers.cashback_lists.name
  // Notices: the archive and its bulk uploads (blobs in the host's storage account).
  NOTICES_CONTAINER: cosmosContainers.notices.name
  NOTICE_BULKS_CONTAINER: cosmosContainers.notice_bulks.name
  NOTICES_QUEUE: servicebusQueues.notices.name
  NOTICES_BLOB_CONTAINER: blobContainers.notice_bulks.name
  NOTICES_BULK_CHUNK_LINES: '500'
  NOTICES_BULK_CONCURRENCY: '16'
  // Stand-in: payments, stations and traffic counters; receipts on their way to ECs.
  STANDIN_CONTAINER: cosmosContainers.standin.name
  PAYMENTS_CONTAINER: cosmosContainers.payments.name
  PAYMENTS_PSP_ID: walletPspId
  PAYMENTS_PSP_FEES: '{"${walletPspId}": 100}'
  PAYMENTS_STUCK_SECONDS: '120'
  PAYMENTS_CRASH_AFTER_CHARGE: 'false'
  PAYMENTS_RECEIPTS_BLOB_CONTAINER: blobContainers.payments_receipts.name
  STANDIN_RECEIPTS_QUEUE: servicebusQueues.standin_receipts.name
  PAYMENTS_NOTICES_QUEUE: servicebusQueues.payments_notices.name
  JOURNAL_CONTAINER: cosmosContainers.journal.name
  JOURNAL_QUEUE: servicebusQueues.journal.name
  JOURNAL_RETENTION_DAYS: '3650'
  BACKOFFICE_POSITIONS_QUEUE: servicebusQueues.backoffice_positions.name
  BACKOFFICE_PRINT_QUEUE: servicebusQueues.backoffice_print.name
  BACKOFFICE_PRINT_BLOB_CONTAINER: blobContainers.backoffice_print.name
  STANDIN_TOKEN_MINUTES: '30'
  STANDIN_STATION_TIMEOUT_SECONDS: '5'
  STANDIN_WINDOW_MINUTES: '30'
  STANDIN_FAULT_RATE: '0.5'
  STANDIN_FAULTY_SLOTS: '0.5'
  STANDIN_DAY_TRAFFIC_SHARE: '0.05'
  STANDIN_NIGHT_TRAFFIC_SHARE: '0.10'
  STANDIN_RECEIPT_MAX_ATTEMPTS: '48'
  STANDIN_EXCLUDED_STATIONS: ''
  // Citizens' tokens
  CITIZEN_JWT_ISSUER: citizenJwtIssuer
  CITIZEN_JWT_AUDIENCE: citizenJwtAudience
  CITIZEN_JWKS_URL: citizenJwksUrl
  CITIZEN_JWT_PUBLIC_KEY: citizenJwtPublicKey
  // Secrets read by name through the SDK
  KEY_VAULT_URL: keyVault.outputs.uri
  // Health
  HEALTH_TIMEOUT_SECONDS: '2'
  HEALTH_CACHE_SECONDS: '10'
  // the platform's authentication runs in front of the app (modules/functionapp.bicep)
  PLATFORM_AUTH_ENABLED: 'true'
}

// Notification Hubs partitions: the connection string is a Key Vault reference (the version-less
// URI of the secret the partition's module writes, so a key rotation needs no app setting change).
var pushHubConnectionSettings = [for (partition, index) in notificationHubPartitions: {
  name: 'PUSH_HUB_${index + 1}_CONNECTION'
  value: '@Microsoft.KeyVault(SecretUri=${notificationHubs[index].outputs.secretUri})'
}]

var pushHubNameSettings = [for (partition, index) in notificationHubPartitions: {
  name: 'PUSH_HUB_${index + 1}_NAME'
  value: '${names.notificationHub}-${index + 1}'
}]

var pushHubDigitsSettings = [for (partition, index) in notificationHubPartitions: {
  name: 'PUSH_HUB_${index + 1}_DIGITS'
  value: partition.digits
}]

module functionApp 'modules/functionapp.bicep' = {
  scope: rg
  name: 'function-app'
  params: {
    name: names.functionApp
    planName: names.plan
    location: environment.location
    identityId: identity.outputs.id
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainer: names.deploymentContainer
    instanceMemoryMb: functionInstanceMemoryMb
    maximumInstances: functionMaximumInstances
    httpPerInstanceConcurrency: functionHttpPerInstanceConcurrency
    alwaysReady: functionAlwaysReady
    zoneRedundant: functionZoneRedundant
    subnetId: network.outputs.functionsSubnetId
    appSettings: appSettings
    indexedAppSettings: concat(pushHubConnectionSettings, pushHubNameSettings, pushHubDigitsSettings)
    backofficeClientId: backofficeClientId
    backofficeTenantId: backofficeTenantId
    tags: allTags
  }
  // The app starts reading Key Vault references, its storage and Cosmos DB at once: its rights,
  // the secrets it references, its Blob containers and the network (private endpoints, DNS links,
  // NAT Gateway) must exist first.
  dependsOn: [
    roles
    notificationHubs
    keyVault
    storage
    network
  ]
}

module roles 'modules/roles.bicep' = {
  scope: rg
  name: 'roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: names.storageAccount
    servicebusNamespaceName: names.servicebus
    keyVaultName: names.keyVault
    appInsightsName: names.appInsights
    cosmosAccountName: names.cosmosAccount
  }
  dependsOn: [
    storage
    servicebus
    keyVault
    monitoring
    cosmos
  ]
}

module diagnostics 'modules/diagnostics.bicep' = {
  scope: rg
  name: 'diagnostics'
  params: {
    workspaceId: monitoring.outputs.workspaceId
    functionAppName: functionApp.outputs.name
    storageAccountName: names.storageAccount
    cosmosAccountName: names.cosmosAccount
    servicebusNamespaceName: names.servicebus
    keyVaultName: names.keyVault
    natGatewayName: names.natGateway
    notificationHubNamespaceNames: [for (partition, index) in notificationHubPartitions: '${names.notificationHubNamespace}-${index + 1}']
  }
  dependsOn: [
    notificationHubs
    network
  ]
}

module alerts 'modules/alerts.bicep' = {
  scope: rg
  name: 'alerts'
  params: {
    base: base
    location: environment.location
    actionGroupName: names.actionGroup
    emails: alertEmails
    servicebusNamespaceId: servicebus.outputs.id
    appInsightsId: monitoring.outputs.appInsightsId
    cosmosAccountId: cosmos.outputs.id
    siteId: functionApp.outputs.id
    siteHostName: functionApp.outputs.defaultHostName
    natGatewayId: network.outputs.natGatewayId
    hubIds: [for (partition, index) in notificationHubPartitions: notificationHubs[index].outputs.hubId]
    functionMaximumInstances: functionMaximumInstances
    queueBacklog: alertQueueBacklog
    functionFailures: alertFunctionFailures
    serverErrors: alertServerErrors
    cosmosThrottledRequests: alertCosmosThrottledRequests
    cosmosRuPercent: alertCosmosRuPercent
    hubFailures: alertHubFailures
    tags: allTags
  }
}

// azd reads these (AZURE_*); names and endpoints only, no key.
output AZURE_LOCATION string = environment.location
output AZURE_RESOURCE_GROUP string = rg.name
output RESOURCE_GROUP_NAME string = rg.name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output BACKOFFICE_REDIRECT_URI string = functionApp.outputs.backofficeRedirectUri
output IDENTITY_CLIENT_ID string = identity.outputs.clientId
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output SERVICEBUS_NAMESPACE string = '${names.servicebus}.servicebus.windows.net'
output KEY_VAULT_URL string = keyVault.outputs.uri
output OUTBOUND_IP_ADDRESS string = network.outputs.outboundIpAddress
