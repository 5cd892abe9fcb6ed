"""POST /v1.0/$batch: up to 20 sub-requests, each served like a request of its own.

https://learn.microsoft.com/graph/json-batching: at most 20 requests with unique ids; a
malformed batch is a 400 for the whole batch; each sub-request gets its own status, headers
and body (so a throttled one carries its own 429 and Retry-After, and the SDKs do not retry
it: the caller must); a request whose `dependsOn` failed answers 424. The emulator runs the
sub-requests one after another in dependency order.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devtools.fakecloud.graph.call import Call, GraphResponse, Incoming, error_response
from devtools.fakecloud.graph.errors import GraphError, bad_request

MAX_REQUESTS = 20
SubRunner = Callable[[Call, Incoming], Awaitable[GraphResponse | None]]
_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
_WRITES = ("POST", "PATCH", "PUT")


@dataclass(frozen=True)
class SubRequest:
    id: str
    method: str
    url: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    depends_on: tuple[str, ...]  # casefolded ids

    @property
    def key(self) -> str:
        return self.id.casefold()


async def run_batch(call: Call, run_sub: SubRunner) -> GraphResponse | None:
    """Answer the batch; None when a sub-request's fault drops the connection."""
    requests = parse_batch(call.json_object())
    call.ctx.log.count("graph.batch_calls")
    call.ctx.log.count("graph.batch_subrequests", len(requests))
    statuses: dict[str, int] = {}
    answers: list[dict[str, Any]] = []
    for sub in execution_order(requests):
        failed = [d for d in sub.depends_on if not 200 <= statuses[d] < 300]
        response = _failed_dependency(sub) if failed else await run_sub(call, incoming(sub))
        if response is None:
            return None
        statuses[sub.key] = response.status
        call.ctx.log.count(f"graph.batch.status.{response.status}")
        answers.append(_answer(sub, response))
    return GraphResponse(200, {"responses": answers}, {"Content-Type": "application/json"})


def parse_batch(body: Mapping[str, Any]) -> list[SubRequest]:
    """The sub-requests, or a 400 for the whole batch if any is malformed."""
    raw = body.get("requests")
    if not isinstance(raw, list) or not raw:
        raise bad_request("Invalid batch payload format: 'requests' must be a non-empty array.")
    if len(raw) > MAX_REQUESTS:
        raise bad_request(
            "Number of included requests in the batch exceeds the maximum allowed limit of "
            f"{MAX_REQUESTS}."
        )
    requests = [_sub_request(item) for item in raw]
    keys = [r.key for r in requests]
    if len(set(keys)) != len(keys):
        raise bad_request("Batch request contains duplicate request ids.")
    return requests


def _sub_request(item: Any) -> SubRequest:
    if not isinstance(item, Mapping):
        raise bad_request("Invalid batch payload format: each request must be an object.")
    request_id, method, url = item.get("id"), item.get("method"), item.get("url")
    if not isinstance(request_id, str) or not request_id:
        raise bad_request("Invalid batch payload format: every request needs a string id.")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise bad_request(f"Invalid HTTP method in request id : {request_id}.")
    if not isinstance(url, str) or urlsplit(url).scheme:
        raise bad_request(f"Request id : {request_id} must have a relative url.")
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    if method.upper() in _WRITES and (body is None or "content-type" not in headers):
        raise bad_request(
            f"Write request id : {request_id} does not contain Content-Type header or body."
        )
    depends_on = item.get("dependsOn") or []
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise bad_request(f"Invalid dependsOn in request id : {request_id}.")
    return SubRequest(
        request_id, method.upper(), url, headers, body, tuple(d.casefold() for d in depends_on)
    )


def execution_order(requests: Sequence[SubRequest]) -> list[SubRequest]:
    """Requests in batch order, each after the ones it depends on; 400 on unknown ids or
    cycles."""
    known = {r.key for r in requests}
    for request in requests:
        if not set(request.depends_on) <= known or request.key in request.depends_on:
            raise bad_request(f"Request id : {request.id} depends on an unknown request.")
    ordered: list[SubRequest] = []
    done: set[str] = set()
    while len(ordered) < len(requests):
        ready = [r for r in requests if r.key not in done and set(r.depends_on) <= done]
        if not ready:
            raise bad_request("Batch request contains a dependency cycle.")
        ordered.append(ready[0])
        done.add(ready[0].key)
    return ordered


def incoming(sub: SubRequest) -> Incoming:
    """The sub-request as if it had arrived on its own (url is relative to /v1.0)."""
    parts = urlsplit(sub.url)
    segments = tuple(unquote(s) for s in parts.path.split("/") if s)
    return Incoming(
        method=sub.method,
        path="/v1.0/" + "/".join(segments),
        segments=("v1.0", *segments),
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
        headers=sub.headers,
        body=sub.body,
    )


def _failed_dependency(sub: SubRequest) -> GraphResponse:
    error = GraphError(
        424,
        "FailedDependency",
        "The request could not be completed: a request it depends on failed.",
    )
    return error_response(error, str(uuid.uuid4()), sub.headers)


def _answer(sub: SubRequest, response: GraphResponse) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": sub.id, "status": response.status, "headers": response.headers}
    if response.body is not None:
        answer["body"] = response.body
    return answer
