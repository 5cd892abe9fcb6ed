"""`$batch`: up to 20 sub-requests per call, retrying only the ones that need it.

Graph throttles each sub-request on its own: a batch answers 200 while some of its responses are
429 with their own Retry-After, and the SDKs do not retry those
(docs/decisions.md#batch-retries). A sub-request whose `dependsOn` failed answers 424; it is
re-sent only together with the dependency it waits for.
https://learn.microsoft.com/graph/json-batching
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import XtenantError
from shared.retry import NOT_PROCESSED_STATUS, RETRYABLE_STATUS, backoff_delay, parse_retry_after

if TYPE_CHECKING:
    from shared.graph import GraphSession

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


async def run_batch(session: GraphSession, items: Sequence[BatchItem]) -> list[BatchResult]:
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


def _should_retry(item: BatchItem, status: int) -> bool:
    allowed = RETRYABLE_STATUS if item.idempotent else NOT_PROCESSED_STATUS
    return status in allowed


async def _run_chunk(session: GraphSession, chunk: list[BatchItem]) -> dict[str, BatchResult]:
    done: dict[str, BatchResult] = {}
    pending = chunk
    attempt = 0
    while pending:
        attempt += 1
        answers = await _post(session, pending)
        retry, waits = _split(session, pending, answers, done)
        if not retry:
            break
        delay = max(waits) if waits else backoff_delay(attempt, session.policy)
        if attempt >= session.policy.max_attempts or not _fits(session, delay):
            for item in retry:  # out of attempts or budget: report them as they last answered
                status, body, _ = answers[item.id]
                done[item.id] = BatchResult(item.id, status, body, session.sub_error(status, body))
            break
        await asyncio.sleep(delay)
        pending = retry
    return done


def _fits(session: GraphSession, delay: float) -> bool:
    return delay <= session.policy.max_wait_s and delay < session.budget.remaining()


def _split(
    session: GraphSession,
    pending: list[BatchItem],
    answers: dict[str, tuple[int, dict[str, Any] | None, dict[str, str]]],
    done: dict[str, BatchResult],
) -> tuple[list[BatchItem], list[float]]:
    """Record final answers in `done`; return the items to re-send and their Retry-After waits."""
    retry_ids: set[str] = set()
    waits: list[float] = []
    for item in pending:
        status, _, headers = answers[item.id]
        if _should_retry(item, status):
            retry_ids.add(item.id)
            asked = parse_retry_after(headers.get("retry-after"))
            if asked is not None:
                waits.append(asked + 0.01)
                session.gate.hold(asked)  # the whole tenant is throttled, not just this item
    for item in pending:  # a 424 goes again only with the dependency it waits for
        status, _, _ = answers[item.id]
        if status == FAILED_DEPENDENCY and retry_ids.intersection(item.depends_on):
            retry_ids.add(item.id)
    for item in pending:
        if item.id not in retry_ids:
            status, body, _ = answers[item.id]
            error = None if 200 <= status < 300 else session.sub_error(status, body)
            done[item.id] = BatchResult(item.id, status, body, error)
    return [item for item in pending if item.id in retry_ids], waits


async def _post(
    session: GraphSession, items: list[BatchItem]
) -> dict[str, tuple[int, dict[str, Any] | None, dict[str, str]]]:
    info = session.request("POST", "/$batch", {"requests": [item.wire() for item in items]})
    envelope = await session.send(
        info,
        idempotent=all(item.idempotent for item in items),
        describe=f"$batch of {len(items)} for tenant {session.tenant_id}",
    )
    answers: dict[str, tuple[int, dict[str, Any] | None, dict[str, str]]] = {}
    for response in envelope.get("responses", []):
        headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
        body = response.get("body")
        answers[str(response["id"])] = (
            int(response["status"]),
            body if isinstance(body, dict) else None,
            headers,
        )
    for item in items:  # Graph answers every id; a missing one is a server fault, so retry it
        answers.setdefault(item.id, (503, None, {}))
    return answers
