"""`$batch`: up to 20 sub-requests per call, sending again only the ones that need it.

Graph throttles each sub-request on its own: a batch answers 200 while some of its responses are
429 with their own Retry-After, and the SDKs do not retry those. They go through the one retry
engine (docs/decisions.md#batch-retries): a call's pending sub-requests are re-sent from inside
`call_with_retry`, each judged by `is_retryable_status` with its own idempotency, and the wait
is the one a single answer gets (its Retry-After exactly, else backoff; never past the cap or
the budget). A throttled sub-response shuts the tenant's ThrottleGate as a whole 429 does.
A sub-request whose `dependsOn` failed answers 424; it is re-sent only together with the
dependency it waits for. https://learn.microsoft.com/graph/json-batching
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.errors import XtenantError
from shared.graph._retry import (
    RetryBudget,
    RetryPolicy,
    ThrottleGate,
    call_with_retry,
    is_retryable_status,
    parse_retry_after,
)
from shared.graph._sdk import GraphRequest

#: Graph's limit of sub-requests per `$batch` call.
MAX_BATCH = 20
FAILED_DEPENDENCY = 424
#: BatchResult.status of an item whose `$batch` call got no usable answer (or was not sent).
NO_ANSWER = 0


@dataclass(frozen=True)
class BatchItem:
    """One `$batch` sub-request. `url` is relative to the version root, e.g. `/users/{id}`."""

    id: str
    method: str
    url: str
    body: dict[str, Any] | None = None
    depends_on: tuple[str, ...] = ()
    idempotent: bool = True

    def wire(self) -> dict[str, Any]:
        request: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        if self.body is not None:
            request["body"] = self.body
            request["headers"] = {"Content-Type": "application/json"}
        if self.depends_on:
            request["dependsOn"] = list(self.depends_on)
        return request


@dataclass(frozen=True)
class BatchResult:
    id: str
    status: int
    body: dict[str, Any] | None
    error: XtenantError | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class SubResponse:
    """One sub-request's answer inside a `$batch` answer; header names in lower case."""

    status: int
    body: dict[str, Any] | None
    headers: Mapping[str, str]

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class PendingSubRequests(Exception):
    """The sub-requests of one `$batch` call to send again, with their last answers.

    It carries the status and headers of the sub-response that asks for the longest wait the
    way kiota's APIError does (`response_status_code`, `response_headers`), so the retry policy
    decides and waits for it exactly as for a single answer.
    """

    def __init__(
        self, items: list[BatchItem], answers: Mapping[str, SubResponse], asking: SubResponse
    ) -> None:
        super().__init__(f"{len(items)} $batch sub-requests to send again")
        self.items = items
        self.answers = answers
        self.response_status_code = asking.status
        self.response_headers = dict(asking.headers)


class BatchSession(Protocol):
    """What a `$batch` run uses of a GraphSession."""

    tenant_id: str
    gate: ThrottleGate
    policy: RetryPolicy
    budget: RetryBudget

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> GraphRequest: ...

    async def send(
        self, request: GraphRequest, *, idempotent: bool, describe: str = ""
    ) -> dict[str, Any]: ...

    def answer_error(self, status: int, body: dict[str, Any] | None) -> XtenantError: ...


def chunks(items: Sequence[BatchItem]) -> list[list[BatchItem]]:
    """Split into calls of at most 20, keeping every dependsOn chain inside one call."""
    out: list[list[BatchItem]] = []
    for item in items:
        current = out[-1] if out else None
        needs_current = current is not None and bool(item.depends_on)
        if current is None or (len(current) >= MAX_BATCH and not needs_current):
            current = []
            out.append(current)
        current.append(item)
    for chunk in out:
        ids = {item.id for item in chunk}
        if len(chunk) > MAX_BATCH or any(set(i.depends_on) - ids for i in chunk):
            raise ValueError("a dependsOn chain must fit in one $batch call of at most 20")
    return out


async def run_batch(session: BatchSession, items: Sequence[BatchItem]) -> list[BatchResult]:
    """Every item's result, in order. A `$batch` call that fails as a whole (after its own
    retries) fails its items and the ones not yet sent, but keeps the answers already received:
    the caller must be able to report what was done before the failure."""
    results: dict[str, BatchResult] = {}
    failure: XtenantError | None = None
    for chunk in chunks(items):
        if failure is None:
            try:
                results.update(await _run_chunk(session, chunk))
            except XtenantError as exc:
                failure = exc
        if failure is not None:
            results.update({i.id: BatchResult(i.id, NO_ANSWER, None, failure) for i in chunk})
    return [results[item.id] for item in items]


async def _run_chunk(session: BatchSession, items: list[BatchItem]) -> dict[str, BatchResult]:
    chunk = _Chunk(session, items)
    try:
        # Only what each sub-request's own idempotency allows is ever pending (`_to_send_again`),
        # so the pending lot itself counts as idempotent here.
        await call_with_retry(
            chunk.attempt,
            idempotent=True,
            budget=session.budget,
            policy=session.policy,
            describe=f"$batch sub-requests for tenant {session.tenant_id}",
        )
    except PendingSubRequests as last:  # out of attempts or budget: as they last answered
        chunk.record(last.items, last.answers)
    return chunk.done


class _Chunk:
    """One `$batch` call's items: the ones answered for good, and the ones still to send."""

    def __init__(self, session: BatchSession, items: list[BatchItem]) -> None:
        self.session = session
        self.pending = items
        self.done: dict[str, BatchResult] = {}

    async def attempt(self) -> None:
        """Send the pending items; keep the final answers; raise for the ones to send again."""
        answers = await _post(self.session, self.pending)
        for answer in answers.values():  # the whole tenant is throttled, not just this item
            self.session.gate.note(answer.status, answer.retry_after)
        again = _to_send_again(self.pending, answers)
        again_ids = {item.id for item in again}
        self.record([item for item in self.pending if item.id not in again_ids], answers)
        if again:
            self.pending = again
            asking = max(
                (answers[i.id] for i in again if answers[i.id].status != FAILED_DEPENDENCY),
                key=lambda answer: answer.retry_after or -1.0,
            )
            raise PendingSubRequests(again, answers, asking)

    def record(self, items: list[BatchItem], answers: Mapping[str, SubResponse]) -> None:
        for item in items:
            answer = answers[item.id]
            ok = 200 <= answer.status < 300
            error = None if ok else self.session.answer_error(answer.status, answer.body)
            self.done[item.id] = BatchResult(item.id, answer.status, answer.body, error)


def _to_send_again(pending: list[BatchItem], answers: Mapping[str, SubResponse]) -> list[BatchItem]:
    """The items whose answer allows another attempt, and the 424s that wait for one of them."""
    ids = {
        item.id
        for item in pending
        if is_retryable_status(answers[item.id].status, idempotent=item.idempotent)
    }
    for item in pending:  # a 424 goes again only with the dependency it waits for
        if answers[item.id].status == FAILED_DEPENDENCY and ids.intersection(item.depends_on):
            ids.add(item.id)
    return [item for item in pending if item.id in ids]


async def _post(session: BatchSession, items: list[BatchItem]) -> dict[str, SubResponse]:
    request = session.request("POST", "/$batch", {"requests": [item.wire() for item in items]})
    envelope = await session.send(
        request,
        idempotent=all(item.idempotent for item in items),
        describe=f"$batch of {len(items)} for tenant {session.tenant_id}",
    )
    answers = {str(r["id"]): _sub_response(r) for r in envelope.get("responses", [])}
    for item in items:  # Graph answers every id; a missing one is a server fault, so retry it
        answers.setdefault(item.id, SubResponse(503, None, {}))
    return answers


def _sub_response(response: dict[str, Any]) -> SubResponse:
    headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    body = response.get("body")
    return SubResponse(int(response["status"]), body if isinstance(body, dict) else None, headers)
