"""Graph's error answers: one exception type carrying what the ODataError body needs.

Every handler raises `GraphError`; the pipeline turns it into Graph's JSON error shape
`{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`
(https://learn.microsoft.com/graph/errors). Codes and messages copy what Graph answers where
it is documented or widely reported; where the emulator lacks a feature that Graph has it
answers 501 `NotImplemented` with a message starting "fakecloud", so a gap in the fake is
never mistaken for a Graph rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

ALREADY_MEMBER = (
    "One or more added object references already exist for the following modified "
    "properties: 'members'."
)


class GraphError(Exception):
    """An error answer: HTTP status, ODataError code and message, extra response headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(
    code: str, message: str, *, request_id: str, client_request_id: str
) -> dict[str, Any]:
    """The ODataError JSON Graph sends with every error status."""
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    inner = {"date": date, "request-id": request_id, "client-request-id": client_request_id}
    return {"error": {"code": code, "message": message, "innerError": inner}}


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def unsupported_query(message: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


def unsupported_clause(prop: str, resource: str) -> GraphError:
    """Graph's answer for a filter a property does not support (documented in
    https://learn.microsoft.com/graph/aad-advanced-queries#error-handling-for-advanced-queries-on-directory-objects).
    """
    return unsupported_query(
        f"Unsupported or invalid query filter clause specified for property '{prop}' "
        f"of resource '{resource}'."
    )


def needs_advanced_query(operator: str) -> GraphError:
    """`ne`, `not`, `endsWith`... need `ConsistencyLevel: eventual` plus `$count=true`."""
    return unsupported_query(
        f"Operator '{operator}' is not supported because the required parameters might be "
        "missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. "
        "Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    )


def unknown_property(prop: str, type_name: str) -> GraphError:
    return bad_request(f"Could not find a property named '{prop}' on type '{type_name}'.")


def not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def segment_not_found(segment: str) -> GraphError:
    return bad_request(f"Resource not found for the segment '{segment}'.")


def method_not_allowed() -> GraphError:
    return GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def access_denied() -> GraphError:
    return GraphError(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


def no_premium_licence() -> GraphError:
    """signInActivity in a tenant without Entra ID P1/P2 (reported in
    microsoftgraph/microsoft-graph-docs issues #12772, #14120)."""
    return GraphError(
        403,
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        "Neither tenant is B2C or tenant doesn't have premium license",
    )


def no_spo_licence() -> GraphError:
    """A SharePoint resource in a tenant without a SharePoint Online plan (widely reported for
    drives and sites, e.g. OneDrive/onedrive-api-docs issue #1773)."""
    return bad_request("Tenant does not have a SPO license.")


def invalid_token(message: str) -> GraphError:
    headers = {
        "WWW-Authenticate": 'Bearer realm="", authorization_uri='
        '"https://login.microsoftonline.com/common/oauth2/authorize", '
        'client_id="00000003-0000-0000-c000-000000000000"'
    }
    return GraphError(401, "InvalidAuthenticationToken", message, headers=headers)


def invalid_property(prop: str) -> GraphError:
    return bad_request(
        f"Property '{prop}' does not exist as a declared property or extension property.",
        code="Request_BadRequest",
    )


def invalid_value(prop: str, resource: str) -> GraphError:
    return bad_request(
        f"Invalid value specified for property '{prop}' of resource '{resource}'.",
        code="Request_BadRequest",
    )


def read_only(prop: str) -> GraphError:
    return bad_request(
        f"Property '{prop}' is read-only and cannot be set.", code="Request_BadRequest"
    )


def not_emulated(feature: str) -> GraphError:
    return GraphError(501, "NotImplemented", f"fakecloud Graph does not emulate {feature}.")


def unreadable_json() -> GraphError:
    return bad_request(
        "Unable to read JSON request payload. Please ensure Content-Type header is set and "
        "payload is of valid JSON format."
    )
