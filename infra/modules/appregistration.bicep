// The multi-tenant app registration, its service principal in the home tenant, and its one
// federated identity credential: the user-assigned managed identity. Customer tenants consent
// to this app (docs/onboarding.md); the app never holds a secret or certificate.
// https://learn.microsoft.com/graph/templates/bicep/reference/applications?view=graph-bicep-1.0
//
// The same registration is the API operators call (docs/security.md): its app roles
// (shared/auth/roles.py, checked by tests/unit/test_infra.py) reach a caller's token only through
// an assignment on the service principal, which requires one; v2.0 tokens; a delegated scope the
// Azure CLI is pre-authorized for, so `az account get-access-token --scope
// api://<client id>/.default` works; and the Application ID URI api://<client id>.
//
// The operator console (shared/console) signs people in with this same registration as a
// confidential client (authorization code with PKCE; its credential is the managed identity's
// assertion, as for every tenant): its callback is the second web redirect URI, and the app is
// pre-authorized for its own scope, so operators see no consent prompt.

extension microsoftGraphV1

@description('Immutable key of the app registration in the Graph extension (unique per tenant).')
param uniqueName string

@description('What customer admins see on the consent screen.')
param displayName string

@description('Object (principal) id of the user-assigned managed identity: the credential\'s subject.')
param managedIdentityPrincipalId string

@description('The token-exchange audience of this cloud (api://AzureADTokenExchange in the public cloud).')
param tokenExchangeAudience string

@description('https://<function app host>/api/consent/callback: where admin consent answers.')
param redirectUri string

@description('https://<function app host>/api/console/auth/callback: where operators\' console sign-in answers.')
param consoleRedirectUri string

@description('Microsoft Graph application permissions (app role ids) the app asks every tenant for.')
param graphAppRoleIds array

var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'
var graphResourceAccess = [for roleId in graphAppRoleIds: {
  id: roleId
  type: 'Role'
}]

// Fixed ids: an app role or scope keeps its id for the life of the registration (assignments
// point at it). Values: shared/auth/roles.py Role.
var operatorRoles = [
  {
    id: 'a87347fc-0056-47d8-bff5-be23f03f84fd'
    value: 'xtenant.read'
    displayName: 'xtenant reader'
    description: 'Read runs, tenants, jobs, bad messages and health.'
  }
  {
    id: '68ac9cd0-b4b2-4a0b-94b9-7bbdc635b370'
    value: 'xtenant.plan'
    displayName: 'xtenant planner'
    description: 'Start plan runs and connection checks (no change in any tenant); read.'
  }
  {
    id: '42505590-5019-40ae-8403-cab58e380743'
    value: 'xtenant.apply'
    displayName: 'xtenant applier'
    description: 'Start apply runs that change customer tenants; plan and read.'
  }
  {
    id: '684d3e05-0b8e-4d78-8e08-65d9fcb2098d'
    value: 'xtenant.admin'
    displayName: 'xtenant administrator'
    description: 'Change the tenant registry, issue onboarding links, read the audit trail; read. Not apply.'
  }
]
var appRoles = [for role in operatorRoles: union(role, {
  allowedMemberTypes: [
    'User'
    'Application'
  ]
  isEnabled: true
})]
var operatorScopeId = '9ee8ba35-e395-448c-b218-5cc58cd801da'
// The Azure CLI's public client id: pre-authorized, so operators need no consent prompt.
var azureCliAppId = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'
var operatorApi = {
  // v2.0 tokens: iss {login}/{tenant}/v2.0 and aud = the client id, what the app accepts.
  requestedAccessTokenVersion: 2
  oauth2PermissionScopes: [
    {
      id: operatorScopeId
      value: 'user_impersonation'
      type: 'Admin'
      isEnabled: true
      adminConsentDisplayName: 'Call the xtenant API'
      adminConsentDescription: 'Call the xtenant API as the signed-in operator; their app roles decide what they may do.'
    }
  ]
}

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMultipleOrgs'
  web: {
    redirectUris: [
      redirectUri
      consoleRedirectUri
    ]
  }
  requiredResourceAccess: [
    {
      resourceAppId: microsoftGraphAppId
      resourceAccess: graphResourceAccess
    }
  ]
  api: operatorApi
  appRoles: appRoles

  // Issuer and subject must match the managed identity's tokens exactly (case-sensitive).
  resource managedIdentityCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${app.uniqueName}/xtenant-managed-identity'
    description: 'The Function App\'s user-assigned managed identity: the app\'s only credential.'
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    subject: managedIdentityPrincipalId
    audiences: [
      tokenExchangeAudience
    ]
  }
}

// api://<client id> names the app's own appId, which exists only once the app does: a second
// declaration of the same registration (same uniqueName; Graph Bicep updates with PATCH, so it
// sets only what it declares) adds it, with the Azure CLI's pre-authorization for the scope
// declared above. The whole `api` object is sent again: PATCH replaces a complex property.
resource operatorApiAccess 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: app.uniqueName
  displayName: displayName
  identifierUris: [
    'api://${app.appId}'
  ]
  api: union(operatorApi, {
    preAuthorizedApplications: [
      {
        appId: azureCliAppId
        delegatedPermissionIds: [
          operatorScopeId
        ]
      }
      {
        appId: app.appId
        delegatedPermissionIds: [
          operatorScopeId
        ]
      }
    ]
  })
}

// Only callers assigned an app role get a token for the API at all.
resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  appRoleAssignmentRequired: true
}

output appId string = app.appId
output servicePrincipalId string = servicePrincipal.id
output identifierUri string = operatorApiAccess.identifierUris[0]
