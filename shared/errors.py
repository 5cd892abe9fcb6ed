"""The error hierarchy, and `classify()`: the one place a wire error becomes a typed one.

    XtenantError                      retryable? what an operator does
    ├── InvalidTenantId               no         fix the tenant id (never reaches a URL)
    ├── TenantAuthError               no         per tenant; `health` says what the breaker records
    │   ├── TenantNotOnboarded        no         admin consent (700016, 500011)
    │   ├── ConsentMissing            no         admin consent (65001)
    │   ├── PermissionMissing         no         admin consent again, for the permission named
    │   ├── FederationMisconfigured   no         fix the app's federated credential (70021, 7002xx)
    │   ├── TenantNotFound            no         wrong or deleted tenant, or wrong cloud (90002)
    │   ├── BlockedByPolicy           no         the tenant's Conditional Access (53003)
    │   └── AppDisabled               no         re-enable the service principal (7000112, 500014)
    ├── AssertionExpired              once       refresh the MI assertion, retry once (700024)
    ├── ManagedIdentityUnavailable    yes        identity assigned to the app? endpoint up?
    ├── NotLicensed                   no         a status, not a failure: the tenant lacks the
    │                                            licence a feature needs (signInActivity: P1)
    ├── GraphRequestError             no         Graph refused the request (400, 404, 409...)
    │   ├── AlreadyExists             no         what was to be added is there: converged
    │   └── GraphNotFound             no         404
    ├── TransientError                yes        nothing: retried, then redelivered
    │   └── LoopDetected              yes        back off hard; a caching bug (50196)
    ├── UnexpectedError               no         read the message; report it
    ├── TenantSkipped                 -          a row skipped because of its tenant's health
    └── DeliveriesExhausted           -          a row whose message went to the poison queue

Codes are Entra's AADSTS numbers (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
React to the code, never to the text: the text changes, the code does not.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
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


class FederationMisconfigured(TenantAuthError):
    error_class = "federation_misconfigured"


class TenantNotFound(TenantAuthError):
    error_class = "tenant_not_found"


class BlockedByPolicy(TenantAuthError):
    error_class = "blocked_by_policy"


class AppDisabled(TenantAuthError):
    error_class = "app_disabled"


class NotLicensed(XtenantError):
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


class AssertionExpired(XtenantError):
    error_class = "assertion_expired"
    retryable = True


class ManagedIdentityUnavailable(XtenantError):
    error_class = "managed_identity_unavailable"
    retryable = True


class TransientError(XtenantError):
    error_class = "transient"
    retryable = True


class LoopDetected(TransientError):
    error_class = "loop_detected"


class UnexpectedError(XtenantError):
    error_class = "unexpected"


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


def _consent(url: str | None) -> str:
    where = f": {url}" if url else " (the admin-consent URL for this tenant)"
    return f"A Global Administrator of the tenant must grant admin consent{where}"


def _federation(_: str | None) -> str:
    return (
        "The app registration's federated credential must match the managed identity exactly "
        "(issuer = login endpoint/<home tenant>/v2.0, subject = the identity's principal id, "
        "audience = api://AzureADTokenExchange; case-sensitive). Right after a change, Entra can "
        "take a few minutes to accept it."
    )


_Remedy = Callable[[str | None], str]
_BY_CODE: Mapping[int, tuple[type[XtenantError], str, _Remedy]] = {
    700016: (TenantNotOnboarded, "the app is not installed in the tenant", _consent),
    500011: (TenantNotOnboarded, "the app's resource principal is missing", _consent),
    65001: (ConsentMissing, "admin consent has not been granted", _consent),
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
        lambda _: "None: the assertion is refreshed and the request retried once.",
    ),
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


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def classify(
    exc: BaseException, *, tenant_id: str | None = None, consent_url: str | None = None
) -> XtenantError:
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
                remediation=remedy(consent_url),
                code=code,
            )
    return _classify_without_known_code(exc, codes, tenant_id)


def _classify_without_known_code(
    exc: BaseException, codes: list[int], tenant_id: str | None
) -> XtenantError:
    status = _status(exc)
    code = codes[0] if codes else None
    retry = "None: retried with backoff, then the message is redelivered."
    if any(c in _TRANSIENT_CODES for c in codes) or status == 429 or (status or 0) >= 500:
        label = f"AADSTS{code}" if code else f"HTTP {status}"
        return TransientError(
            f"{label}: {_first_line(exc)}",
            tenant_id=tenant_id,
            remediation=retry,
            code=code or status,
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError | OSError | asyncio.TimeoutError):
        return TransientError(
            f"network: {_first_line(exc)}", tenant_id=tenant_id, remediation=retry
        )
    if isinstance(exc, HttpResponseError) and code is not None:
        return UnexpectedError(
            f"AADSTS{code}: {_first_line(exc)}",
            tenant_id=tenant_id,
            remediation=f"Look up AADSTS{code} in Entra's error code reference.",
            code=code,
        )
    return UnexpectedError(
        f"{type(exc).__name__}: {_first_line(exc)}",
        tenant_id=tenant_id,
        remediation="Unexpected: read the message; if it repeats, report it with the run id.",
        code=code,
    )


def _first_line(exc: BaseException) -> str:
    """The first line of a message: Entra appends trace ids and timestamps after it."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


#: Graph answers a duplicate member reference with 400 Request_BadRequest and only this text.
_ALREADY_EXISTS = "added object references already exist"
#: Graph's code when a tenant without Entra ID P1 asks for signInActivity.
_NOT_LICENSED_CODES = frozenset({"Authentication_RequestFromNonPremiumTenantOrB2CTenant"})


def graph_error(
    status: int,
    code: str | None,
    message: str,
    *,
    tenant_id: str | None,
    permissions: tuple[str, ...] = (),
    consent_url: str | None = None,
) -> XtenantError:
    """Turn a Graph error answer (status, ODataError code, message) into a typed error.

    Used for whole responses (via classify_graph) and for `$batch` sub-responses alike.
    https://learn.microsoft.com/graph/errors
    """
    label = f"HTTP {status} {code or ''}".rstrip()
    text = f"{label}: {message[:300]}" if message else label
    if status == 403 and code in _NOT_LICENSED_CODES:
        return NotLicensed(
            text,
            tenant_id=tenant_id,
            code=code,
            remediation="None needed: the tenant has no Entra ID P1 licence, so no sign-in data.",
        )
    if status == 403 and code == "Authorization_RequestDenied":
        needed = ", ".join(permissions) or "the permission this job declares"
        return PermissionMissing(
            f"{text} (the job needs application permissions: {needed})",
            tenant_id=tenant_id,
            code=code,
            remediation=(
                f"Add {needed} to the app registration's Graph application permissions; "
                f"then: {_consent(consent_url)}"
            ),
        )
    if status == 429 or status >= 500:
        return TransientError(
            text,
            tenant_id=tenant_id,
            code=code or status,
            remediation="None: retried with backoff, then the message is redelivered.",
        )
    kind = GraphRequestError
    if status == 404:
        kind = GraphNotFound
    elif status == 400 and _ALREADY_EXISTS in message:
        kind = AlreadyExists
    return kind(
        text,
        status=status,
        tenant_id=tenant_id,
        code=code,
        remediation="Graph refused the request: read the message; if it repeats, report it.",
    )


def classify_graph(
    exc: BaseException,
    *,
    tenant_id: str | None,
    permissions: tuple[str, ...] = (),
    consent_url: str | None = None,
) -> XtenantError:
    """Turn whatever a Graph call raised into the typed error (kiota ODataError/APIError,
    httpx transport errors, or a credential failure already typed by identity.py)."""
    if isinstance(exc, XtenantError):
        return exc
    status = getattr(exc, "response_status_code", None)
    if isinstance(status, int):
        main = getattr(exc, "error", None)
        code = getattr(main, "code", None)
        message = getattr(main, "message", None) or getattr(exc, "message", None) or ""
        return graph_error(
            status,
            code if isinstance(code, str) else None,
            str(message),
            tenant_id=tenant_id,
            permissions=permissions,
            consent_url=consent_url,
        )
    if isinstance(exc, OSError | asyncio.TimeoutError) or _is_httpx_transport(exc):
        return TransientError(
            f"network: {_first_line(exc)}",
            tenant_id=tenant_id,
            remediation="None: retried with backoff, then the message is redelivered.",
        )
    return classify(exc, tenant_id=tenant_id, consent_url=consent_url)


def _is_httpx_transport(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError)
