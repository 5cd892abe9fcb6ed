#!/usr/bin/env bash
# Creates xtenant's multi-tenant app registration in Azure US Government or Azure China, where the
# Microsoft Graph Bicep extension does not deploy (docs/decisions.md#graph-bicep-extension):
# the app (signInAudience AzureADMultipleOrgs), its service principal in the home tenant, and its
# one federated identity credential, the Function App's user-assigned managed identity.
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
readonly GUID_PATTERN='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

cloud="" app_name="" mi_principal_id="" home_tenant="" redirect_uri="" graph_roles=""

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
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
      audience="api://AzureADTokenExchangeUSGov" ;;
    AzureChinaCloud | china)
      cloud="AzureChinaCloud"
      login_endpoint="https://login.chinacloudapi.cn"
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
  [[ -z "$redirect_uri" ]] || options+=(--web-redirect-uris "$redirect_uri")
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
  ensure_service_principal
  ensure_federated_credential
  echo
  echo "Next: azd env set XTENANT_APP_CLIENT_ID $app_id && azd provision"
}

main "$@"
