// xtenant on Azure: `azd up` creates everything the app needs, and no secret.
//
//   resource group rg-<env>
//     user-assigned managed identity   the app's identity; the app registration's federated credential
//     storage account                  host storage, deployment package, queues, tables (no keys)
//     Log Analytics + App Insights     local auth off; telemetry through the managed identity
//     Flex Consumption plan + app      Python, runs as the managed identity
//     role assignments                 data roles on the account, metrics publisher on App Insights,
//                                      secrets user on the Key Vault
//     Key Vault                        the notification sinks' URLs (secrets), read by reference
//   Entra ID (Microsoft Graph extension; public cloud only, elsewhere a script does it)
//     multi-tenant app registration    Graph application permissions of the chosen jobs,
//                                      redirect URI /api/consent/callback; the operators' API:
//                                      app roles, api://<client id>, v2.0 tokens
//     federated identity credential    issuer = this tenant, subject = the managed identity
//     service principal                in this (the home) tenant
//
// docs/deploying.md explains each part and the roles the deployer needs.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: names the resource group and seeds a unique token for resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource. Flex Consumption is offered in a subset of regions.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Built-in jobs (shared/jobs) whose Graph application permissions the app registration requests. A job left out fails in every tenant with permission_missing.')
@allowed([
  'guest-cleanup'
  'ensure-group'
  'tenant-baseline'
  'conditional-access-baseline'
  'security-defaults'
  'authentication-methods'
  'sharepoint-sharing'
  'emergency-access-check'
])
param jobs array = [
  'guest-cleanup'
  'ensure-group'
  'tenant-baseline'
  'conditional-access-baseline'
  'security-defaults'
  'authentication-methods'
  'sharepoint-sharing'
  'emergency-access-check'
]

@description('NCRONTAB (six fields, UTC) of the scheduled run; the default is daily at 02:00.')
param schedule string = '0 0 2 * * *'

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to. Each runs up to 24 tenant jobs at once (host.json).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Replication of the storage account (registry, ledger, queues). Geo-redundant by default.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param storageSku string = 'Standard_GRS'

@description('Display name of the multi-tenant app registration: customer admins see it when they consent.')
param appDisplayName string = 'xtenant'

@secure()
@description('The generic webhook events are posted to (azd env XTENANT_WEBHOOK_URL; docs/notifications.md). Kept in the Key Vault; empty: none.')
param webhookUrl string = ''

@secure()
@description('The Teams Workflows webhook events are posted to as Adaptive Cards (azd env XTENANT_TEAMS_WEBHOOK_URL). Kept in the Key Vault; empty: none.')
param teamsWebhookUrl string = ''

@description('US Government and China only: the client id of the app registration that infra/scripts/register-app-national-cloud.sh created (azd env XTENANT_APP_CLIENT_ID). The public cloud creates it here and ignores this.')
param appClientId string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var serviceName = 'api'
var functionAppName = 'func-xtenant-${resourceToken}'

// Names the app uses in code: shared/messages.py, shared/notify/outbox.py, shared/tenants.py,
// shared/ledger.py, shared/auth/audit.py.
var queueNames = [
  'tenant-jobs'
  'tenant-jobs-poison'
  'xtenant-events'
  'xtenant-events-poison'
]
var tableNames = [
  'xtenanttenants'
  'xtenantruns'
  'xtenantaudit'
]

// Per cloud: shared/settings.py CLOUDS (Graph endpoint, token-exchange audience).
var clouds = {
  AzureCloud: {
    name: 'public'
    graph: 'https://graph.microsoft.com'
    tokenExchangeAudience: 'api://AzureADTokenExchange'
  }
  AzureUSGovernment: {
    name: 'usgov'
    graph: 'https://graph.microsoft.us'
    tokenExchangeAudience: 'api://AzureADTokenExchangeUSGov'
  }
  AzureChinaCloud: {
    name: 'china'
    graph: 'https://microsoftgraph.chinacloudapi.cn'
    tokenExchangeAudience: 'api://AzureADTokenExchangeChina'
  }
}
var cloud = clouds[environment().name]
// The Microsoft Graph Bicep extension deploys in the public cloud only: elsewhere the app
// registration comes from infra/scripts/register-app-national-cloud.sh
// (docs/decisions.md#graph-bicep-extension).
var isPublicCloud = environment().name == 'AzureCloud'

// Each job's Graph application permissions: shared/jobs/*.py `permissions` (checked by
// tests/unit/test_infra.py), and the app role id of each in Microsoft Graph.
// https://learn.microsoft.com/graph/permissions-reference
var jobPermissions = {
  'guest-cleanup': [
    'User.ReadWrite.All'
    'AuditLog.Read.All'
    'LicenseAssignment.Read.All'
  ]
  'ensure-group': [
    'Group.ReadWrite.All'
    'GroupMember.ReadWrite.All'
    'User.Read.All'
  ]
  'tenant-baseline': [
    'Policy.ReadWrite.Authorization'
  ]
  'conditional-access-baseline': [
    'Policy.Read.All'
    'Policy.ReadWrite.ConditionalAccess'
    'User.Read.All'
    'LicenseAssignment.Read.All'
  ]
  'security-defaults': [
    'Policy.Read.All'
    'Policy.ReadWrite.SecurityDefaults'
    'LicenseAssignment.Read.All'
  ]
  'authentication-methods': [
    'Policy.ReadWrite.AuthenticationMethod'
  ]
  'sharepoint-sharing': [
    'SharePointTenantSettings.ReadWrite.All'
    'LicenseAssignment.Read.All'
  ]
  'emergency-access-check': [
    'User.Read.All'
    'GroupMember.Read.All'
    'RoleManagement.Read.Directory'
    'Policy.Read.All'
    'AuditLog.Read.All'
    'LicenseAssignment.Read.All'
  ]
}
var graphAppRoles = {
  'User.ReadWrite.All': '741f803b-c850-494e-b5df-cde7c675a1ca'
  'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214'
  'AuditLog.Read.All': 'b0afded3-3588-46d8-8b3d-9842eff778da'
  'Group.ReadWrite.All': '62a82d76-70ea-41e2-9197-370581804d09'
  'GroupMember.ReadWrite.All': 'dbaae8cf-10b5-4b86-a4a1-f871c94c6695'
  'Policy.ReadWrite.Authorization': 'fb221be6-99f2-473f-bd32-01c6a0e9ca3b'
  'LicenseAssignment.Read.All': 'e2f98668-2877-4f38-a2f4-8202e0717aa1'
  'Policy.Read.All': '246dd0d5-5bd0-4def-940b-0421030a5b68'
  'Policy.ReadWrite.ConditionalAccess': '01c0a623-fc9b-48e9-b794-0756f8e8f067'
  'Policy.ReadWrite.SecurityDefaults': '1c6e93a6-28e2-4cbb-9f64-1a46a821124d'
  'Policy.ReadWrite.AuthenticationMethod': '29c18626-4985-4dcd-85c0-193eef327366'
  'SharePointTenantSettings.ReadWrite.All': '19b94e34-907c-4f43-bde9-38b1909ed408'
  'GroupMember.Read.All': '98830695-27a2-44f7-8c18-0c3ebc9698f6'
  'RoleManagement.Read.Directory': '483bed4a-2ad3-4361-a73b-c83ccdbdc53c'
}
var permissionOrder = [
  'User.ReadWrite.All'
  'User.Read.All'
  'AuditLog.Read.All'
  'Group.ReadWrite.All'
  'GroupMember.ReadWrite.All'
  'Policy.ReadWrite.Authorization'
  'LicenseAssignment.Read.All'
  'Policy.Read.All'
  'Policy.ReadWrite.ConditionalAccess'
  'Policy.ReadWrite.SecurityDefaults'
  'Policy.ReadWrite.AuthenticationMethod'
  'SharePointTenantSettings.ReadWrite.All'
  'GroupMember.Read.All'
  'RoleManagement.Read.Directory'
]
var permissionsPerJob = [for job in jobs: jobPermissions[job]]
var requestedPermissions = flatten(permissionsPerJob)
// Each permission once, in a stable order, whichever jobs ask for it.
var graphPermissions = filter(permissionOrder, permission => contains(requestedPermissions, permission))
var graphAppRoleIds = [for permission in graphPermissions: graphAppRoles[permission]]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-xtenant-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stxtenant${resourceToken}'
    sku: storageSku
    location: location
    tags: tags
    deploymentContainerName: 'app-package'
    queueNames: queueNames
    tableNames: tableNames
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-xtenant-${resourceToken}'
    appInsightsName: 'appi-xtenant-${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-xt-${resourceToken}'
    location: location
    tags: tags
    webhookUrl: webhookUrl
    teamsWebhookUrl: teamsWebhookUrl
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: keyVault.outputs.name
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    planName: 'plan-xtenant-${resourceToken}'
    name: functionAppName
    location: location
    tags: tags
    serviceName: serviceName
    identityId: identity.outputs.id
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    pythonVersion: '3.11'
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  dependsOn: [
    roles
  ]
}

var publicUrl = 'https://${functionApp.outputs.defaultHostName}'
var redirectUri = '${publicUrl}/api/consent/callback'
var consoleRedirectUri = '${publicUrl}/api/console/auth/callback'

module appRegistration 'modules/appregistration.bicep' = if (isPublicCloud) {
  name: 'appregistration'
  scope: rg
  params: {
    uniqueName: 'xtenant-${resourceToken}'
    displayName: appDisplayName
    managedIdentityPrincipalId: identity.outputs.principalId
    tokenExchangeAudience: cloud.tokenExchangeAudience
    redirectUri: redirectUri
    consoleRedirectUri: consoleRedirectUri
    graphAppRoleIds: graphAppRoleIds
  }
}

// ARM evaluates only the branch the condition picks, so the outputs of the skipped module are
// never read.
var registeredAppClientId = isPublicCloud ? appRegistration.outputs.appId : appClientId
var federationIssuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'

module appSettings 'modules/appsettings.bicep' = {
  name: 'appsettings'
  scope: rg
  params: {
    functionAppName: functionApp.outputs.name
    appClientId: registeredAppClientId
    managedIdentityClientId: identity.outputs.clientId
    homeTenantId: tenant().tenantId
    publicUrl: publicUrl
    cloud: cloud.name
    schedule: schedule
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    appInsightsConnectionString: monitoring.outputs.connectionString
    webhookSecretUri: empty(webhookUrl) ? '' : keyVault.outputs.webhookSecretUri
    teamsWebhookSecretUri: empty(teamsWebhookUrl) ? '' : keyVault.outputs.teamsWebhookSecretUri
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
@description('The multi-tenant app registration\'s client id (APP_CLIENT_ID); in US Government and China the XTENANT_APP_CLIENT_ID you set, empty until then.')
output APP_CLIENT_ID string = registeredAppClientId
@description('The managed identity\'s client id (AZURE_CLIENT_ID).')
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = publicUrl
@description('The Key Vault that keeps the notification sinks\' URLs (docs/notifications.md).')
output KEY_VAULT_NAME string = keyVault.outputs.name
@description('GET it with ?tenant=<customer tenant id> and an operator token (admin role) for a consent link with a single-use state.')
output ONBOARD_URL string = '${publicUrl}/api/onboard'
@description('The scope operators ask the Azure CLI for: az account get-access-token --scope <this>.')
output OPERATOR_TOKEN_SCOPE string = 'api://${registeredAppClientId}/.default'
@description('Admin consent for a customer tenant: replace {tenant} (a tenant id) and {state} (from GET /api/onboard; the callback refuses any other).')
output ADMIN_CONSENT_URL_TEMPLATE string = '${environment().authentication.loginEndpoint}{tenant}/v2.0/adminconsent?client_id=${registeredAppClientId}&scope=${uriComponent('${cloud.graph}/.default')}&redirect_uri=${uriComponent(redirectUri)}&state={state}'
output GRAPH_PERMISSIONS array = graphPermissions

// What the national-cloud script needs, and what to do with its answer (docs/deploying.md).
@description('The managed identity\'s object (principal) id: the federated credential\'s subject.')
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
@description('The federated credential\'s issuer: this cloud\'s login endpoint and the home tenant.')
output FEDERATION_ISSUER string = federationIssuer
@description('The federated credential\'s audience in this cloud.')
output FEDERATION_AUDIENCE string = cloud.tokenExchangeAudience
@description('Empty in the public cloud. Elsewhere: the command that creates the app registration, then `azd env set XTENANT_APP_CLIENT_ID <its client id>` and `azd provision`.')
output NATIONAL_CLOUD_APP_REGISTRATION string = isPublicCloud ? '' : 'infra/scripts/register-app-national-cloud.sh --cloud ${environment().name} --app-name "${appDisplayName}" --mi-principal-id ${identity.outputs.principalId} --home-tenant ${tenant().tenantId} --redirect-uri ${redirectUri} --graph-roles ${join(graphAppRoleIds, ',')}'
