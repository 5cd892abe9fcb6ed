// The multi-tenant app registration, its service principal in the home tenant, and its one
// federated identity credential: the user-assigned managed identity. Customer tenants consent
// to this app (docs/onboarding.md); the app never holds a secret or certificate.
// https://learn.microsoft.com/graph/templates/bicep/reference/applications?view=graph-bicep-1.0

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

@description('Microsoft Graph application permissions (app role ids) the app asks every tenant for.')
param graphAppRoleIds array

var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'
var graphResourceAccess = [for roleId in graphAppRoleIds: {
  id: roleId
  type: 'Role'
}]

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMultipleOrgs'
  web: {
    redirectUris: [
      redirectUri
    ]
  }
  requiredResourceAccess: [
    {
      resourceAppId: microsoftGraphAppId
      resourceAccess: graphResourceAccess
    }
  ]

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

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

output appId string = app.appId
output servicePrincipalId string = servicePrincipal.id
