#!/usr/bin/env bash
# Creates xtenant's multi-tenant app registration in Azure US Government or Azure China, where the
# Microsoft Graph Bicep extension does not deploy (docs/decisions.md#graph-bicep-extension):
# the app (signInAudience AzureADMultipleOrgs), its service principal in the home tenant, and its
# one federated identity credential, the Function App's user-assigned managed identity; and the
# operators' API on it, as infra/modules/appregistration.bicep declares it (docs/security.md):
# app roles, v2.0 tokens, the user_impersonation scope for the Azure CLI, api://<client id>, and
# role assignment required on the service principal.
#
#   infra/scripts/register-app-national-cloud.sh --cloud AzureUSGovernment --app-name xtenant \
#       --mi-principal-id <guid> --home-tenant <guid> [--redirect-uri <url>] [--graph-roles <id,id>]
#
# `azd up` prints the whole command as NATIONAL_CLOUD_APP_REGISTRATION (`azd env get-values`).
# Sign in to that cloud first: `az cloud set --name AzureUSGovernment && az login`. Running it
# again updates the same app instead of creating a second one. Then:
#   azd env set XTENANT_APP_CLIENT_ID <the client id it prints> && azd provision
# https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
set -euo pipefail

readonly CREDENTIAL_NAME="xtenant-managed-identity"
readonly MICROSOFT_GRAPH_APP_ID="00000003-0000-0000-c000-000000000000"
readonly AZURE_CLI_APP_ID="04b07795-8ddb-461a-bbee-02f9e1bf7b46"
# The same fixed ids as infra/modules/appregistration.bicep (tests/unit/test_infra.py checks).
readonly OPERATOR_SCOPE_ID="9ee8ba35-e395-448c-b218-5cc58cd801da"
readonly OPERATOR_ROLES=(
  "a87347fc-0056-47d8-bff5-be23f03f84fd:xtenant.read"
  "68ac9cd0-b4b2-4a0b-94b9-7bbdc635b370:xtenant.plan"
  "42505590-5019-40ae-8403-cab58e380743:xtenant.apply"
  "684d3e05-0b8e-4d78-8e08-65d9fcb2098d:xtenant.admin"
)
readonly GUID_PATTERN='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

cloud="" app_name="" mi_principal_id="" home_tenant="" redirect_uri="" graph_roles=""

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

fail() {
  echo "register-app-national-cloud: $*" >&2
  exit 1
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || usage
    case "$1" in
      --cloud) cloud="$2" ;;
      --app-name) app_name="$2" ;;
      --mi-principal-id) mi_principal_id="$2" ;;
      --home-tenant) home_tenant="$2" ;;
      --redirect-uri) redirect_uri="$2" ;;
      --graph-roles) graph_roles="$2" ;;
      *) usage ;;
    esac
    shift 2
  done
  [[ -n "$cloud" && -n "$app_name" && -n "$mi_principal_id" && -n "$home_tenant" ]] || usage
  [[ "$mi_principal_id" =~ $GUID_PATTERN ]] || fail "--mi-principal-id must be a GUID"
  [[ "$home_tenant" =~ $GUID_PATTERN ]] || fail "--home-tenant must be a GUID"
}

# The login endpoint and token-exchange audience of each cloud the Graph extension does not serve
# (shared/settings.py CLOUDS holds the same values for the app itself).
cloud_endpoints() {
  case "$cloud" in
    AzureUSGovernment | usgov)
      cloud="AzureUSGovernment"
      login_endpoint="https://login.microsoftonline.us"
      graph_endpoint="https://graph.microsoft.us"
      audience="api://AzureADTokenExchangeUSGov" ;;
    AzureChinaCloud | china)
      cloud="AzureChinaCloud"
      login_endpoint="https://login.chinacloudapi.cn"
      graph_endpoint="https://microsoftgraph.chinacloudapi.cn"
      audience="api://AzureADTokenExchangeChina" ;;
    AzureCloud | public)
      fail "in the public cloud \`azd up\` creates the app registration itself" ;;
    *)
      fail "--cloud must be AzureUSGovernment or AzureChinaCloud, got '$cloud'" ;;
  esac
  issuer="$login_endpoint/$home_tenant/v2.0"
}

check_signed_in() {
  local current
  current="$(az cloud show --query name -o tsv)"
  [[ "$current" == "$cloud" ]] ||
    fail "az is set to $current: run \`az cloud set --name $cloud && az login\` first"
  current="$(az account show --query tenantId -o tsv)"
  [[ "$current" == "$home_tenant" ]] ||
    fail "az is signed in to tenant $current, not $home_tenant (the managed identity's tenant)"
}

required_resource_access() {
  local role entries=""
  IFS=',' read -r -a roles <<<"$graph_roles"
  for role in "${roles[@]}"; do
    [[ "$role" =~ $GUID_PATTERN ]] || fail "--graph-roles holds '$role', not a GUID"
    entries+="${entries:+,}{\"id\":\"$role\",\"type\":\"Role\"}"
  done
  echo "[{\"resourceAppId\":\"$MICROSOFT_GRAPH_APP_ID\",\"resourceAccess\":[$entries]}]"
}

# The app by display name: created once, updated on every later run.
ensure_app() {
  local options=(--sign-in-audience AzureADMultipleOrgs)
  # the consent callback, and beside it the console's sign-in callback (shared/console)
  [[ -z "$redirect_uri" ]] ||
    options+=(--web-redirect-uris "$redirect_uri" "${redirect_uri%/api/consent/callback}/api/console/auth/callback")
  [[ -z "$graph_roles" ]] || options+=(--required-resource-accesses "$(required_resource_access)")
  app_id="$(az ad app list --display-name "$app_name" --query "[0].appId" -o tsv)"
  if [[ -z "$app_id" ]]; then
    app_id="$(az ad app create --display-name "$app_name" "${options[@]}" --query appId -o tsv)"
    echo "created app registration $app_name: $app_id"
  else
    az ad app update --id "$app_id" "${options[@]}"
    echo "updated app registration $app_name: $app_id"
  fi
}

ensure_service_principal() {
  if az ad sp show --id "$app_id" --query id -o tsv >/dev/null 2>&1; then
    echo "service principal exists"
  else
    az ad sp create --id "$app_id" --query id -o tsv >/dev/null
    echo "created service principal"
  fi
  # Only callers assigned an app role get a token for the API at all.
  az ad sp update --id "$app_id" --set appRoleAssignmentRequired=true
}

operator_api() {
  local preauthorized="$1"
  local scope="{\"id\":\"$OPERATOR_SCOPE_ID\",\"value\":\"user_impersonation\",\"type\":\"Admin\",\"isEnabled\":true,\"adminConsentDisplayName\":\"Call the xtenant API\",\"adminConsentDescription\":\"Call the xtenant API as the signed-in operator.\"}"
  local api="\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[$scope]"
  if [[ -n "$preauthorized" ]]; then
    # the Azure CLI, and the app itself (the console's sign-in): no consent prompt
    api+=",\"preAuthorizedApplications\":[{\"appId\":\"$AZURE_CLI_APP_ID\",\"delegatedPermissionIds\":[\"$OPERATOR_SCOPE_ID\"]},{\"appId\":\"$app_id\",\"delegatedPermissionIds\":[\"$OPERATOR_SCOPE_ID\"]}]"
  fi
  echo "{$api}"
}

app_roles() {
  local role entries=""
  for role in "${OPERATOR_ROLES[@]}"; do
    entries+="${entries:+,}{\"id\":\"${role%%:*}\",\"value\":\"${role#*:}\",\"displayName\":\"${role#*:}\",\"description\":\"${role#*:}\",\"allowedMemberTypes\":[\"User\",\"Application\"],\"isEnabled\":true}"
  done
  echo "[$entries]"
}

# Two PATCHes: the scope must exist before the Azure CLI can be pre-authorized for it.
ensure_operator_api() {
  local uri="$graph_endpoint/v1.0/applications(appId='$app_id')"
  az rest --method PATCH --uri "$uri" --headers Content-Type=application/json \
    --body "{\"identifierUris\":[\"api://$app_id\"],\"api\":$(operator_api ""),\"appRoles\":$(app_roles)}"
  az rest --method PATCH --uri "$uri" --headers Content-Type=application/json \
    --body "{\"api\":$(operator_api preauthorized)}"
  echo "operators' API: api://$app_id, app roles ${OPERATOR_ROLES[*]#*:}"
}

# Issuer, subject and audience must match the managed identity's tokens exactly (case-sensitive).
ensure_federated_credential() {
  local parameters existing
  parameters="{\"name\":\"$CREDENTIAL_NAME\",\"issuer\":\"$issuer\",\"subject\":\"$mi_principal_id\",\"audiences\":[\"$audience\"],\"description\":\"The Function App's user-assigned managed identity: the app's only credential.\"}"
  existing="$(az ad app federated-credential list --id "$app_id" \
    --query "[?name=='$CREDENTIAL_NAME'].name" -o tsv)"
  if [[ -z "$existing" ]]; then
    az ad app federated-credential create --id "$app_id" --parameters "$parameters" >/dev/null
    echo "created federated credential: issuer $issuer, audience $audience"
  else
    az ad app federated-credential update --id "$app_id" \
      --federated-credential-id "$CREDENTIAL_NAME" --parameters "$parameters" >/dev/null
    echo "updated federated credential: issuer $issuer, audience $audience"
  fi
}

main() {
  parse_args "$@"
  cloud_endpoints
  check_signed_in
  ensure_app
  ensure_operator_api
  ensure_service_principal
  ensure_federated_credential
  echo
  echo "Next: azd env set XTENANT_APP_CLIENT_ID $app_id && azd provision"
}

main "$@"
