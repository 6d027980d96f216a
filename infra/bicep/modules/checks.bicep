// The checks Terraform's variable validations make, run before anything is created (main.bicep's
// resource group waits for this module). No resources here.
targetScope = 'subscription'

param environment object
@description('Region => short code.')
param knownLocations object
@description('The resource names built in main.bicep.')
param names object
param privateNetworking bool
param servicebusSku string
param citizenJwksUrl string
param citizenJwtPublicKey string
param cosmosAutoscaleMaxThroughput int
param notificationHubPartitions array
param apns object

param walletPspBaseUrl string
param walletReturnUrl string
param walletNotificationUrl string
param cashbackBankCheckUrl string
@description('Timer setting => its NCRONTAB schedule.')
param timerSchedules object

var prefix = environment.prefix
// The app parses the partitions' digits and checks that they cover 0-f once (/api/health).
var emptyDigits = [for partition in notificationHubPartitions: empty(partition.digits)]
// Six fields, one space apart, as Terraform's validation asks (Bicep has no regex).
var scheduleShapes = [for schedule in items(timerSchedules): length(split(schedule.value, ' ')) == 6]

var problems = concat(
  length(prefix) >= 2 && length(prefix) <= 10 && toLower(prefix) == prefix && !contains(prefix, '-') && !contains(prefix, '_') && !contains(prefix, '.') && !contains(prefix, ' ') ? [] : ['environment.prefix: 2 to 10 lower-case letters or digits'],
  contains(['dev', 'uat', 'prod'], environment.name) ? [] : ['environment.name: one of dev, uat, prod'],
  contains(knownLocations, environment.location) ? [] : ['environment.location: a region with a short code in main.bicep'],
  !privateNetworking || servicebusSku == 'Premium' ? [] : ['Private networking needs the Premium Service Bus tier: Standard has no private endpoints'],
  !empty(citizenJwksUrl) || !empty(citizenJwtPublicKey) ? [] : ['Set citizenJwksUrl or citizenJwtPublicKey'],
  cosmosAutoscaleMaxThroughput % 1000 == 0 ? [] : ['cosmosAutoscaleMaxThroughput: a multiple of 1000'],
  !contains(emptyDigits, true) ? [] : ['notificationHubPartitions: every partition needs its digits'],
  startsWith(walletPspBaseUrl, 'https://') ? [] : ['walletPspBaseUrl: an https URL'],
  startsWith(walletReturnUrl, 'https://') ? [] : ['walletReturnUrl: an https URL'],
  empty(walletNotificationUrl) || (startsWith(walletNotificationUrl, 'https://') && !contains(walletNotificationUrl, '?') && !contains(walletNotificationUrl, '#') && !contains(walletNotificationUrl, '@')) ? [] : ['walletNotificationUrl: empty, or an https URL without credentials, query or fragment'],
  startsWith(cashbackBankCheckUrl, 'https://') ? [] : ['cashbackBankCheckUrl: an https URL'],
  !contains(scheduleShapes, false) ? [] : ['timer schedules: six NCRONTAB fields one space apart (second minute hour day month day-of-week)'],
  (empty(apns) ? true : contains(['production', 'sandbox'], apns.endpoint)) ? [] : ['apns.endpoint: production or sandbox'],
  length(names.storageAccount) <= 24 ? [] : ['storage account name over 24 characters: shorten environment.prefix'],
  length(names.keyVault) <= 24 ? [] : ['key vault name over 24 characters: shorten environment.prefix'],
  length(names.functionApp) <= 32 ? [] : ['function app name over 32 characters: shorten environment.prefix']
)

output ok bool = empty(problems) ? true : fail(join(problems, '; '))
