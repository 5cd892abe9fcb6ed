"""Where a Graph failure becomes a typed error (the classes are shared.errors').

Two entries, one per shape of failure:
- `classify_graph_failure`: whatever a Graph call raised (kiota's ODataError/APIError, an httpx
  transport error, or a token failure already typed by shared.identity);
- `error_from_graph_answer`: a Graph error answer, read from a whole response or a `$batch`
  sub-response alike.
Graph's error codes decide, never its texts, except where Graph gives no code of its own
(a duplicate member reference; a tenant without SharePoint Online, which Graph answers
400 `BadRequest` "Tenant does not have a SPO license."). https://learn.microsoft.com/graph/errors
"""

from __future__ import annotations

import asyncio

import httpx

from shared.errors import (
    RETRIED,
    AlreadyExists,
    GraphNotFound,
    GraphRequestError,
    NotLicensed,
    PermissionMissing,
    TransientError,
    XtenantError,
    classify_token_error,
    consent_remediation,
    first_line,
    is_tls_failure,
    status_of,
    tls_failure,
)

#: Graph answers a duplicate member reference with 400 Request_BadRequest and only this text.
_ALREADY_EXISTS = "added object references already exist"
#: Graph answers a SharePoint resource of a tenant without SharePoint Online with 400 and this.
_NO_SHAREPOINT = "tenant does not have a spo license"
#: Graph's codes when the tenant lacks the licence a feature needs: 403
#: Authentication_RequestFromNonPremiumTenantOrB2CTenant (no Entra ID P1: signInActivity, a
#: Conditional Access write; docs/decisions.md#conditional-access-without-p1), 400/403
#: AadPremiumLicenseRequired (features of Entra ID P2 or ID Governance, such as PIM).
NOT_LICENSED_CODES = frozenset(
    {"Authentication_RequestFromNonPremiumTenantOrB2CTenant", "AadPremiumLicenseRequired"}
)
#: Graph's code when the app lacks an application permission the request needs.
PERMISSION_DENIED = "Authorization_RequestDenied"
#: Every Graph error code that decides a typed error (docs/troubleshooting.md lists each).
GRAPH_ERROR_CODES = NOT_LICENSED_CODES | {PERMISSION_DENIED}


def error_from_graph_answer(
    status: int,
    code: str | None,
    message: str,
    *,
    tenant_id: str | None,
    permissions: tuple[str, ...] = (),
) -> XtenantError:
    """The typed error for a Graph error answer: its status, ODataError code and message."""
    label = f"HTTP {status} {code or ''}".rstrip()
    text = f"{label}: {message[:300]}" if message else label
    if status in (400, 403) and code in NOT_LICENSED_CODES:
        return NotLicensed(
            text,
            tenant_id=tenant_id,
            code=code,
            remediation=(
                "None needed: the tenant lacks the Entra ID licence this needs (P1, or P2 for "
                "some features), so the job does not apply there. License the tenant for it "
                "to apply; every run checks again."
            ),
        )
    if status == 400 and _NO_SHAREPOINT in message.casefold():
        return NotLicensed(
            text,
            tenant_id=tenant_id,
            code=code,
            remediation="None needed: the tenant has no SharePoint Online plan, so no "
            "SharePoint settings; a subscription with one makes the job apply.",
        )
    if status == 403 and code == PERMISSION_DENIED:
        return _permission_missing(text, code, tenant_id, permissions)
    if status == 429 or status >= 500:
        return TransientError(text, tenant_id=tenant_id, code=code or status, remediation=RETRIED)
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


def _permission_missing(
    text: str,
    code: str,
    tenant_id: str | None,
    permissions: tuple[str, ...],
) -> PermissionMissing:
    needed = ", ".join(permissions) or "the permission this job declares"
    return PermissionMissing(
        f"{text} (the job needs application permissions: {needed})",
        tenant_id=tenant_id,
        code=code,
        remediation=(
            f"Add {needed} to the app registration's Graph application permissions; "
            f"then: {consent_remediation(tenant_id)}"
        ),
    )


def classify_graph_failure(
    exc: BaseException,
    *,
    tenant_id: str | None,
    permissions: tuple[str, ...] = (),
) -> XtenantError:
    """The typed error for whatever a Graph call raised: an error answer, a network failure, or
    a token failure (typed already by shared.identity, or typed here as the token chain's)."""
    if isinstance(exc, XtenantError):
        return exc
    status = status_of(exc)
    if status is not None:
        main = getattr(exc, "error", None)
        code = getattr(main, "code", None)
        message = getattr(main, "message", None) or getattr(exc, "message", None) or ""
        return error_from_graph_answer(
            status,
            code if isinstance(code, str) else None,
            str(message),
            tenant_id=tenant_id,
            permissions=permissions,
        )
    if is_tls_failure(exc):
        return tls_failure(exc, tenant_id=tenant_id)
    if isinstance(exc, OSError | asyncio.TimeoutError | httpx.TransportError):
        return TransientError(
            f"network: {first_line(exc)}", tenant_id=tenant_id, remediation=RETRIED
        )
    return classify_token_error(exc, tenant_id=tenant_id)
