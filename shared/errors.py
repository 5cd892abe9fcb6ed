"""The error hierarchy, and `classify_token_error()`: where a token-chain failure becomes typed.

    XtenantError                    retryable? typed by  what an operator does
    ├── InvalidTenantId             no         -         fix the tenant id (never reaches a URL)
    ├── TenantAuthError             no         token     per tenant; `health`: what the breaker
    │   │                                                records
    │   ├── TenantNotOnboarded      no         token     admin consent (700016, 500011)
    │   ├── ConsentMissing          no         token     admin consent (65001)
    │   ├── PermissionMissing       no         Graph     admin consent again, for the permission
    │   ├── FederationMisconfigured no         token     fix the federated credential (70021,
    │   │                                                7002xx)
    │   ├── TenantNotFound          no         token     wrong or deleted tenant, or wrong cloud
    │   │                                                (90002)
    │   ├── BlockedByPolicy         no         token     the tenant's Conditional Access (53003)
    │   └── AppDisabled             no         token     re-enable the service principal
    │                                                    (7000112, 500014)
    ├── AssertionExpired            once       token     refresh the MI assertion, retry once
    │                                                    (700024)
    ├── ManagedIdentityUnavailable  yes        -         identity assigned to the app? endpoint?
    ├── AppDisabledAtHome           no         worker    AppDisabled from a tenant, and from the
    │                                                    home tenant too: enable the app there
    ├── NotApplicable               no         -         a status, not a failure: the tenant
    │   │                                                lacks a job's prerequisite (a service
    │   │                                                plan such as Entra ID P1, a cloud)
    │   └── NotLicensed             no         Graph     Graph itself said the tenant lacks the
    │                                                    licence (licences changed mid-run)
    ├── GraphRequestError           no         Graph     Graph refused the request (400, 409...)
    │   ├── AlreadyExists           no         Graph     what was to be added is there: converged
    │   └── GraphNotFound           no         Graph     404
    ├── EmergencyAccessUnresolved   no         job       name the tenant's break-glass accounts
    │                                                    (a Conditional Access write refused
    │                                                    before it was sent)
    ├── SecurityDefaultsOn          no         job       turn security defaults off first (an
    │                                                    enforced policy refused before sending)
    ├── TransientError              yes        both      nothing: retried, then redelivered
    │   └── LoopDetected            yes        token     back off hard; a caching bug (50196)
    ├── UnexpectedError             no         token     read the message; report it
    ├── TlsFailure                  no         both      the app's CA bundle or proxy: every
    │                                                    tenant alike, no tenant's health
    ├── TenantSkipped               -          -         a row skipped because of its tenant's
    │                                                    health (the class is that health)
    └── DeliveriesExhausted         -          -         a row whose message went to the poison
                                                         queue (the class of its last failure)

"typed by" names the one function that makes the error from a wire failure: token =
`classify_token_error` here (Entra's AADSTS codes from the token chain); job = a standard that
refused a write itself, before sending it (shared/jobs/); Graph =
`shared.graph.classify_graph_failure` (whatever a Graph call raised) and
`shared.graph.error_from_graph_answer` (a Graph error answer, whole or a `$batch`
sub-response). Codes are Entra's AADSTS numbers
(https://learn.microsoft.com/entra/identity-platform/reference-error-codes) and Graph's
ODataError codes. React to the code, never to the text: the text changes, the code does not.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
import ssl
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)


class HealthEffect(enum.StrEnum):
    """What a failure does to its tenant's health (the breaker in tenants.py).

    Values are the health statuses they lead to.
    """

    NEEDS_CONSENT = "needs_consent"
    MISCONFIGURED = "misconfigured"


class XtenantError(Exception):
    """Base of every error xtenant reports about a tenant or its own identity."""

    #: a stable snake_case name for this kind of failure (ledger rows, API answers)
    error_class: str = "error"
    retryable: ClassVar[bool] = False
    #: what the tenant breaker records for this failure (see tenants.py): None = no change
    health: ClassVar[HealthEffect | None] = None
    #: a failure of the app's own identity, the same for every tenant at once: it pauses the
    #: work (the app-level breaker, app_health.py) and never counts against a tenant
    app_wide: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        tenant_id: str | None = None,
        remediation: str = "",
        code: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.tenant_id = tenant_id
        self.remediation = remediation
        self.code = code

    def as_record(self) -> dict[str, Any]:
        """What a ledger row or an HTTP answer shows: class, message, remediation, code."""
        return {
            "error_class": self.error_class,
            "message": self.message,
            "remediation": self.remediation,
            "code": self.code,
            "retryable": self.retryable,
        }


class InvalidTenantId(XtenantError, ValueError):
    error_class = "invalid_tenant_id"


class TenantAuthError(XtenantError):
    """The tenant refuses the app for a reason retrying will not change."""

    error_class = "tenant_auth_error"
    health = HealthEffect.MISCONFIGURED


class TenantNotOnboarded(TenantAuthError):
    error_class = "tenant_not_onboarded"
    health = HealthEffect.NEEDS_CONSENT


class ConsentMissing(TenantAuthError):
    error_class = "consent_missing"
    health = HealthEffect.NEEDS_CONSENT


class PermissionMissing(TenantAuthError):
    error_class = "permission_missing"
    # per (tenant, job): only the job lacking the permission is held back (tenants.py)


class FederationMisconfigured(XtenantError):
    """No federated credential of the app matches the managed identity's assertion.

    The credential list lives on the app registration in the home tenant and every tenant's
    token endpoint checks the same assertion against it, so this hits every tenant at once:
    app-wide, never a tenant's fault (docs/decisions.md#secretless-token-chain).
    """

    error_class = "federation_misconfigured"
    app_wide = True


class TenantNotFound(TenantAuthError):
    error_class = "tenant_not_found"


class BlockedByPolicy(TenantAuthError):
    error_class = "blocked_by_policy"


class AppDisabled(TenantAuthError):
    error_class = "app_disabled"


class AppDisabledAtHome(XtenantError):
    """Every tenant says the app is disabled (7000112/500014) because it is disabled in its own
    home tenant: confirmed by a token request there (app_health.HomeCheck). App-wide."""

    error_class = "app_disabled_at_home"
    app_wide = True

    def __init__(self, seen: XtenantError) -> None:
        super().__init__(
            f"{seen.message}, and the app's home tenant says the same: the app registration or "
            "its service principal is disabled in the home tenant, so every tenant refuses it",
            tenant_id=seen.tenant_id,
            code=seen.code,
            remediation="In the home tenant (AZURE_TENANT_ID), enable the xtenant enterprise "
            "application (Enterprise applications > xtenant > Properties > Enabled for users to "
            "sign in: Yes). Work resumes by itself; no tenant's health changed.",
        )


class NotApplicable(XtenantError):
    """The job does not apply to this tenant (shared/jobs/applicability.py): the row ends
    `not_applicable` with the reason, and the tenant's health does not change."""

    error_class = "not_applicable"


class NotLicensed(NotApplicable):
    """Graph answered that the tenant lacks the licence a feature needs: not applicable."""

    error_class = "not_licensed"


class GraphRequestError(XtenantError):
    """Graph answered 4xx for a reason other than permission or licence; `status` says which."""

    error_class = "graph_error"

    def __init__(self, message: str, *, status: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class AlreadyExists(GraphRequestError):
    """Graph refused to add what is already there (e.g. a member reference): converged."""

    error_class = "already_exists"


class GraphNotFound(GraphRequestError):
    error_class = "not_found"


class EmergencyAccessUnresolved(XtenantError):
    """A Conditional Access write refused before it was sent: the policy would not exclude
    every emergency (break-glass) account, because none was named or one is not in the tenant.
    A policy that can lock every administrator out is never written."""

    error_class = "emergency_access_unresolved"


class SecurityDefaultsOn(XtenantError):
    """An enforced Conditional Access policy refused before it was sent: the tenant's security
    defaults are on, and Entra refuses to enable a policy while they are."""

    error_class = "security_defaults_on"


class AssertionExpired(XtenantError):
    """Entra refused the managed identity's assertion for its time (700024) or as invalid
    (50013); after one refresh and retry it is the app's own clock or identity: app-wide."""

    error_class = "assertion_expired"
    retryable = True
    app_wide = True


class ManagedIdentityUnavailable(XtenantError):
    error_class = "managed_identity_unavailable"
    retryable = True
    app_wide = True


class TransientError(XtenantError):
    error_class = "transient"
    retryable = True


class LoopDetected(TransientError):
    error_class = "loop_detected"


class UnexpectedError(XtenantError):
    error_class = "unexpected"


class TlsFailure(XtenantError):
    """The app could not verify Entra's or Graph's certificate: a configuration problem of the
    app (its CA bundle, a proxy that intercepts TLS, the endpoint settings), the same for every
    tenant. Not retried, and never counted against a tenant's health."""

    error_class = "tls_failure"
    app_wide = True


def is_tls_failure(exc: BaseException) -> bool:
    """Whether a certificate or TLS handshake failure is behind `exc`.

    The SDKs wrap it (httpx ConnectError <- aiohttp ClientConnectorCertificateError <- ssl error;
    azure-core ServiceRequestError.inner_exception), so the whole chain is walked.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) or type(current).__name__ in _TLS_ERROR_NAMES:
            return True
        pending += [current.__cause__, current.__context__]
        pending += [getattr(current, a, None) for a in ("inner_exception", "certificate_error")]
    return False


#: aiohttp's TLS errors, by name: aiohttp is imported on first use, not by this module.
_TLS_ERROR_NAMES = frozenset(
    {"ClientSSLError", "ClientConnectorSSLError", "ClientConnectorCertificateError"}
)


def tls_failure(exc: BaseException, *, tenant_id: str | None) -> TlsFailure:
    return TlsFailure(
        f"TLS: {first_line(exc)}",
        tenant_id=tenant_id,
        remediation=(
            "The app does not trust the certificate of Entra ID or Graph: check the CA bundle "
            "(SSL_CERT_FILE, REQUESTS_CA_BUNDLE), any TLS-intercepting proxy, and the "
            "AZURE_AUTHORITY_HOST / GRAPH_ENDPOINT settings. Every tenant is affected alike."
        ),
    )


class _RecordedUnderClass(XtenantError):
    """A row outcome reported under an error class decided at run time."""

    def __init__(self, error_class: str, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.error_class = error_class


class TenantSkipped(_RecordedUnderClass):
    """A row not run because of its tenant's health (`needs_consent`, `quarantined`...);
    the class is the health that refused it."""


class DeliveriesExhausted(_RecordedUnderClass):
    """A row whose message kept failing and went to the poison queue; the class is the one of
    the last failure recorded for it."""


def consent_remediation(tenant_id: str | None) -> str:
    """What to do when the tenant has not consented: its admin follows a consent link.

    The link comes from the onboarding flow (a single-use state and the registered redirect
    URI): a bare admin-consent URL would end at a callback that refuses it.
    """
    link = f"GET /api/onboard?tenant={tenant_id}" if tenant_id else "GET /api/onboard?tenant=<id>"
    return (
        "A Global Administrator of the tenant must grant admin consent: issue a consent link "
        f"({link}) and send it to them; the link's callback checks the tenant again."
    )


def _federation(_: str | None) -> str:
    return (
        "The app registration's federated credential must match the managed identity exactly "
        "(issuer = login endpoint/<home tenant>/v2.0, subject = the identity's principal id, "
        "audience = api://AzureADTokenExchange; case-sensitive). Right after a change, Entra can "
        "take a few minutes to accept it."
    )


#: The remediation of a transient failure: there is nothing for an operator to do.
#: Kept in step with the breaker (tenants.Breaker) and host.json by tests/unit/test_docs.py.
RETRIED = (
    "None now: retried with backoff, then the message is redelivered. If the tenant keeps "
    "failing, its third failure in a row quarantines it for 30 minutes and the row ends "
    "`skipped` (quarantined); a later run tries it again."
)

_ASSERTION_REFUSED = (
    "Already refreshed and retried once: if it persists, the app's clock or its managed identity "
    "is at fault, for every tenant. Work pauses and resumes by itself once Entra accepts the "
    "assertion; check the host's time and the identity named by AZURE_CLIENT_ID."
)
_Remedy = Callable[[str | None], str]
_BY_CODE: Mapping[int, tuple[type[XtenantError], str, _Remedy]] = {
    700016: (TenantNotOnboarded, "the app is not installed in the tenant", consent_remediation),
    500011: (TenantNotOnboarded, "the app's resource principal is missing", consent_remediation),
    65001: (ConsentMissing, "admin consent has not been granted", consent_remediation),
    70021: (FederationMisconfigured, "no federated credential matches", _federation),
    700211: (FederationMisconfigured, "no federated credential has this issuer", _federation),
    700212: (FederationMisconfigured, "no federated credential has this audience", _federation),
    700213: (FederationMisconfigured, "no federated credential has this subject", _federation),
    700222: (
        FederationMisconfigured,
        "an Entra-issued token was used as a federated assertion",
        _federation,
    ),
    700027: (FederationMisconfigured, "the assertion's signature was refused", _federation),
    90002: (
        TenantNotFound,
        "the tenant does not exist",
        lambda _: "Check the tenant id and the cloud (AZURE_CLOUD); remove the tenant if deleted.",
    ),
    53003: (
        BlockedByPolicy,
        "blocked by the tenant's Conditional Access",
        lambda _: "Ask the tenant's admin to exclude the xtenant app from the blocking policy.",
    ),
    7000112: (
        AppDisabled,
        "the app is disabled in the tenant",
        lambda _: "Ask the tenant's admin to enable the xtenant enterprise application.",
    ),
    500014: (
        AppDisabled,
        "the app's service principal is disabled",
        lambda _: "Ask the tenant's admin to enable the xtenant enterprise application.",
    ),
    700024: (
        AssertionExpired,
        "the assertion is outside its valid time range",
        lambda _: _ASSERTION_REFUSED,
    ),
    50013: (AssertionExpired, "the assertion was refused as invalid", lambda _: _ASSERTION_REFUSED),
    50196: (
        LoopDetected,
        "Entra detected a request loop",
        lambda _: "Back off; repeated identical token requests mean a caching bug.",
    ),
}
_TRANSIENT_CODES = frozenset({90055, 50033, 90006, 90024, 90033, 90090, 50000})
_AADSTS = re.compile(r"AADSTS(\d+)")


def error_codes(exc: BaseException) -> list[int]:
    """The AADSTS codes of an azure-identity/MSAL failure: from the JSON body, else the text."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            body = json.loads(response.text())
            codes = [int(c) for c in body.get("error_codes", [])]
            if codes:
                return codes
        except (ValueError, TypeError, AttributeError):
            pass
    return [int(c) for c in _AADSTS.findall(str(exc))]


def status_of(exc: BaseException) -> int | None:
    """The HTTP status a failure carries, if any: kiota's APIError/ODataError
    (`response_status_code`), azure-core's HttpResponseError and httpx's HTTPStatusError
    (`response.status_code`). The one place a status is read off an exception."""
    status = getattr(exc, "response_status_code", None)
    if isinstance(status, int):
        return status
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def classify_token_error(exc: BaseException, *, tenant_id: str | None = None) -> XtenantError:
    """Turn a failure from the token chain into the typed error that decides what happens next."""
    if isinstance(exc, XtenantError):
        return exc
    codes = error_codes(exc) if isinstance(exc, ClientAuthenticationError) else []
    for code in codes:
        if code in _BY_CODE:
            kind, summary, remedy = _BY_CODE[code]
            return kind(
                f"AADSTS{code}: {summary}",
                tenant_id=tenant_id,
                remediation=remedy(tenant_id),
                code=code,
            )
    return _classify_without_known_code(exc, codes, tenant_id)


def _classify_without_known_code(
    exc: BaseException, codes: list[int], tenant_id: str | None
) -> XtenantError:
    status = status_of(exc)
    code = codes[0] if codes else None
    if is_tls_failure(exc):
        return tls_failure(exc, tenant_id=tenant_id)
    if any(c in _TRANSIENT_CODES for c in codes) or status == 429 or (status or 0) >= 500:
        label = f"AADSTS{code}" if code else f"HTTP {status}"
        return TransientError(
            f"{label}: {first_line(exc)}",
            tenant_id=tenant_id,
            remediation=RETRIED,
            code=code or status,
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError | OSError | asyncio.TimeoutError):
        return TransientError(
            f"network: {first_line(exc)}", tenant_id=tenant_id, remediation=RETRIED
        )
    if isinstance(exc, HttpResponseError) and code is not None:
        return UnexpectedError(
            f"AADSTS{code}: {first_line(exc)}",
            tenant_id=tenant_id,
            remediation=f"Look up AADSTS{code} in Entra's error code reference.",
            code=code,
        )
    return UnexpectedError(
        f"{type(exc).__name__}: {first_line(exc)}",
        tenant_id=tenant_id,
        remediation="Unexpected: read the message; if it repeats, report it with the run id.",
        code=code,
    )


def first_line(exc: BaseException) -> str:
    """The first line of a failure's message, at most 300 characters: Entra appends trace ids
    and timestamps after it."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
