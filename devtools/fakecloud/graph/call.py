"""One Graph request being served (top-level or inside $batch) and its answer.

The same `Call` -> `GraphResponse` path serves plain HTTP requests and $batch sub-requests,
so routing, authorisation and faults behave identically for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devtools.fakecloud.graph.auth import Caller
from devtools.fakecloud.graph.context import GraphContext
from devtools.fakecloud.graph.directory import TenantDirectory
from devtools.fakecloud.graph.errors import GraphError, bad_request, error_body, unreadable_json

ODATA_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)


@dataclass(frozen=True)
class Incoming:
    """A request as received: top-level over HTTP, or one $batch sub-request."""

    method: str
    path: str  # decoded, with the version: "/v1.0/users/x"
    segments: tuple[str, ...]  # decoded path segments, e.g. ("v1.0", "users", "x")
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]  # lower-cased names
    body: Any  # raw bytes (HTTP) or already-parsed JSON ($batch sub-request)


@dataclass
class Call:
    ctx: GraphContext
    caller: Caller
    directory: TenantDirectory
    method: str  # upper case
    path: str  # decoded, after /v1.0, e.g. "/users/ab12..."
    segments: tuple[str, ...]  # decoded path segments
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None when the request had no body
    sign_in_licensed: bool = True  # False when a no_sign_in_licence fault applies

    @property
    def consistency_eventual(self) -> bool:
        return self.headers.get("consistencylevel", "").casefold() == "eventual"

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (PATCH/POST payloads); 400 otherwise."""
        if self.body is None:
            raise unreadable_json()
        if not isinstance(self.body, dict):
            raise bad_request("The request body must be a JSON object.")
        return self.body


@dataclass
class GraphResponse:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def ok(cls, body: dict[str, Any], status: int = 200) -> GraphResponse:
        return cls(status, body, {"Content-Type": ODATA_JSON})

    @classmethod
    def no_content(cls) -> GraphResponse:
        return cls(204)


def error_response(error: GraphError, request_id: str, headers: Mapping[str, str]) -> GraphResponse:
    """The ODataError answer for `error`, with Graph's request-id headers."""
    client_request_id = headers.get("client-request-id", request_id)
    body = error_body(
        error.code, error.message, request_id=request_id, client_request_id=client_request_id
    )
    response_headers = {
        "Content-Type": "application/json",
        "request-id": request_id,
        "client-request-id": client_request_id,
        **error.headers,
    }
    return GraphResponse(error.status, body, response_headers)
