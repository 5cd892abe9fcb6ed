"""Entra ID's token endpoint errors: the AADSTS catalogue and the JSON body they travel in.

Clients must react to `error_codes`, not to the text, whose wording Entra may change (the codes
are what https://learn.microsoft.com/entra/identity-platform/reference-error-codes lists), but
the texts follow Entra's so that logs and operator messages look like the real thing. Body shape:
`{"error", "error_description": "AADSTS<code>: <text> Trace ID: .. Correlation ID: ..
Timestamp: ..", "error_codes": [code], "timestamp", "trace_id", "correlation_id", "error_uri"}`.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

_FIC_HINT = (
    "Please note that the matching is done using a case-sensitive comparison. Check your "
    "federated identity credential Subject, Audience and Issuer against the presented assertion."
)
_NOT_INSTALLED_HINT = (
    "This can happen if the application has not been installed by the administrator of the "
    "tenant or consented to by any user in the tenant. You may have sent your authentication "
    "request to the wrong tenant."
)

# code -> (error, HTTP status, description template)
_CATALOGUE: dict[int, tuple[str, int, str]] = {
    90002: (
        "invalid_request",
        400,
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud. Check with your subscription administrator, this may "
        "happen if there are no active subscriptions for the tenant.",
    ),
    700016: (
        "unauthorized_client",
        400,
        "Application with identifier '{app_id}' was not found in the directory '{tenant}'. "
        + _NOT_INSTALLED_HINT,
    ),
    65001: (
        "invalid_grant",
        400,
        "The user or administrator has not consented to use the application with ID '{app_id}' "
        "named '{app_name}'. Send an interactive authorization request for this user and resource.",
    ),
    7000112: ("unauthorized_client", 400, "Application '{app_id}'({app_name}) is disabled."),
    500014: (
        "unauthorized_client",
        400,
        "The service principal for resource '{app_id}' is disabled. This indicate that a "
        "subscription within the tenant has lapsed, or that the administrator for this tenant "
        "has disabled the application, preventing tokens from being issued for it.",
    ),
    53003: (
        "access_denied",
        400,
        "Access has been blocked by Conditional Access policies. The access policy does not "
        "allow token issuance.",
    ),
    500011: (
        "invalid_resource",
        400,
        "The resource principal named {resource} was not found in the tenant named {tenant}. "
        + _NOT_INSTALLED_HINT,
    ),
    700027: ("invalid_client", 401, "Client assertion failed signature validation. {detail}"),
    700024: (
        "invalid_client",
        401,
        "Client assertion is not within its valid time range. Current time: {now}, assertion "
        "valid from {nbf}, expiry time of assertion {exp}. Review the documentation at "
        "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    ),
    700021: (
        "invalid_client",
        401,
        "Client assertion application identifier doesn't match 'client_id' parameter. "
        "Review the documentation at "
        "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    ),
    70021: (
        "invalid_client",
        401,
        "No matching federated identity record found for presented assertion. Assertion Issuer: "
        "'{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'. "
        "https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
    ),
    700211: (
        "invalid_client",
        401,
        "No matching federated identity record found for presented assertion issuer '{iss}'. "
        + _FIC_HINT,
    ),
    700212: (
        "invalid_client",
        401,
        "No matching federated identity record found for presented assertion audience '{aud}'. "
        + _FIC_HINT,
    ),
    700213: (
        "invalid_client",
        401,
        "No matching federated identity record found for presented assertion subject '{sub}'. "
        + _FIC_HINT,
    ),
    700222: (
        "invalid_client",
        401,
        "AAD-issued tokens may not be used for federated identity flows.",
    ),
    7000215: (
        "invalid_client",
        401,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app '{app_id}'.",
    ),
    7000218: (
        "invalid_client",
        401,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
    ),
    900144: (
        "invalid_request",
        400,
        "The request body must contain the following parameter: '{parameter}'.",
    ),
    70003: (
        "unsupported_grant_type",
        400,
        "The app requested an unsupported grant type '{grant_type}'.",
    ),
    50027: ("invalid_request", 400, "JWT token is invalid or malformed."),
    # The authorization code grant (devtools/fakecloud/signin.py).
    70000: (
        "invalid_grant",
        400,
        "The provided value for the 'code' parameter is not valid. The code has expired or is "
        "not valid.",
    ),
    70008: (
        "invalid_grant",
        400,
        "The provided authorization code or refresh token has expired due to inactivity. Send "
        "a new interactive authorization request for this user and resource.",
    ),
    54005: ("invalid_grant", 400, "OAuth2 Authorization code was already redeemed."),
    500112: (
        "invalid_grant",
        400,
        "The reply address does not match the reply address provided when requesting the "
        "authorization code.",
    ),
    501481: (
        "invalid_grant",
        400,
        "The Code_Verifier does not match the code_challenge supplied in the authorization "
        "request.",
    ),
    50196: (
        "invalid_request",
        400,
        "The server terminated an operation because it encountered a client request loop. "
        "Please contact your app vendor.",
    ),
    90055: (
        "temporarily_unavailable",
        429,
        "The request is throttled temporarily. Please try after some time.",
    ),
    50033: ("temporarily_unavailable", 503, "A transient error has occurred. Please try again."),
    90006: ("temporarily_unavailable", 503, "The server encountered a transient error."),
    90024: ("temporarily_unavailable", 503, "A transient error occurred. Please try again."),
    90033: ("temporarily_unavailable", 503, "A transient error has occurred. Please try again."),
    90090: ("temporarily_unavailable", 503, "A transient error has occurred. Please try again."),
    50000: (
        "server_error",
        500,
        "There was an error issuing a token or an issue with our sign-in service.",
    ),
}


@dataclass(frozen=True)
class EntraError:
    """An error the token endpoint answers; `code` is None for plain 429/5xx answers."""

    code: int | None
    error: str
    status: int
    text: str


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "unknown"


def aadsts(code: int, **context: Any) -> EntraError:
    """The error for AADSTS `code`, its text filled from `context` (tenant, app_id, iss, ...)."""
    error, status, template = _CATALOGUE.get(
        code, ("invalid_request", 400, "The request failed (injected AADSTS error).")
    )
    return EntraError(code, error, status, template.format_map(_Blank(context)).strip())


def transient(status: int) -> EntraError:
    """A plain throttling or server error, with no AADSTS code (as a front door answers)."""
    if status == 429:
        return EntraError(None, "temporarily_unavailable", 429, "Too many requests.")
    return EntraError(None, "server_error", status, "The service is temporarily unavailable.")


def _timestamp(now: datetime.datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M:%SZ")


def error_body(
    error: EntraError, *, correlation_id: str | None, error_uri_base: str
) -> dict[str, Any]:
    """The JSON body Entra sends with an error."""
    now = datetime.datetime.now(datetime.UTC)
    trace_id = str(uuid.uuid4())
    correlation_id = correlation_id or str(uuid.uuid4())
    prefix = f"AADSTS{error.code}: " if error.code is not None else ""
    description = (
        f"{prefix}{error.text} Trace ID: {trace_id} Correlation ID: {correlation_id} "
        f"Timestamp: {_timestamp(now)}"
    )
    return {
        "error": error.error,
        "error_description": description,
        "error_codes": [error.code] if error.code is not None else [],
        "timestamp": _timestamp(now),
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{error_uri_base}/error?code={error.code or error.status}",
    }
