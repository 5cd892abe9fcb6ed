"""The single retry policy around every Graph request and `$batch` sub-request.

Why one layer: two layers multiply attempts, and kiota's RetryHandler (switched off) both
retries POSTs and crashes on a fractional Retry-After (docs/decisions.md#one-retry-layer).
`$batch` sub-requests go through the same engine: a chunk's pending sub-requests are re-sent
from inside `call_with_retry`, decided and waited for by the same functions
(docs/decisions.md#batch-retries). Rules, from Graph's throttling guidance
(https://learn.microsoft.com/graph/throttling, docs/decisions.md#retry-after):
- retry 429, 500, 502, 503, 504 and network failures; never 400, 401, 403, 404;
- wait exactly the Retry-After the service sent (integer, fractional or HTTP date), never less;
  without one, exponential backoff with jitter;
- a create (POST) is retried only when the service says it did not process it (429, 503) or the
  connection was never made; after an ambiguous failure (sent, no answer, or 500/502/504) the job
  re-reads state instead, so nothing is created twice;
- every wait fits a per-tenant-job time budget below the function timeout; a wait that would not
  fit ends the retries here, and the queue's redelivery takes over.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

from shared import telemetry
from shared.errors import is_tls_failure, status_of

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: Statuses that mean "not processed": safe to retry even a create.
NOT_PROCESSED_STATUS = frozenset({429, 503})
#: Failures before the request left this machine: safe to retry even a create.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Added to every Retry-After: sleeping wakes up a hair early on some clocks; never be early.
SAFETY_MARGIN_S = 0.01


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 0.5
    #: the longest single wait we sit through; a longer Retry-After ends retries here
    max_wait_s: float = 60.0
    #: time for all retries of one tenant job; keep it well under host.json functionTimeout
    budget_s: float = 300.0


@dataclass
class RetryBudget:
    """Seconds left for one tenant job's retries, shared by all its requests."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    #: what the job spent: requests sent again, and seconds waited (Retry-After, backoff and
    #: the tenant's throttle gate); reported per row so throttling is visible
    retries: int = 0
    waited_s: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        return self.seconds - (self.clock() - self.started)

    def spend(self, delay: float, *, retry: bool) -> None:
        self.waited_s += delay
        self.retries += int(retry)


class ThrottleGate:
    """When Graph takes this app's requests for one tenant again.

    Graph throttles per app and tenant (https://learn.microsoft.com/graph/throttling): a
    Retry-After told to one request holds for every request to that tenant, including those of
    the other jobs running there in this process at the same time. Each sends only once the
    gate is open; sending while throttled only prolongs the throttling.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._opens_at = 0.0

    def hold(self, seconds: float) -> None:
        """Keep the gate shut for `seconds` from now (a longer hold already in place stays)."""
        self._opens_at = max(self._opens_at, self._clock() + seconds + SAFETY_MARGIN_S)

    def closed_for(self) -> float:
        """Seconds until the gate opens; 0 when it is open."""
        return max(0.0, self._opens_at - self._clock())

    def note(self, status: int | None, retry_after: float | None) -> None:
        """Shut the gate when an answer, whole or a `$batch` sub-response, says Graph did not
        process the request (429, 503): for its Retry-After, or a hair when it gave none."""
        if status in NOT_PROCESSED_STATUS:
            self.hold(retry_after or 0.0)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: "3", "2.128" or an HTTP date (RFC 9110 10.2.3).

    Returns None for a missing or unreadable value, and never a negative number.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def headers_of(exc: BaseException) -> Mapping[str, str]:
    """The answer's headers an exception carries (kiota's or httpx's), else none."""
    headers = getattr(exc, "response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def retry_after_of(exc: BaseException) -> float | None:
    """The seconds an answer's Retry-After asks for, if it sent a readable one."""
    headers = headers_of(exc)
    value = headers.get("retry-after") or headers.get("Retry-After")
    return parse_retry_after(value)


def is_retryable_status(status: int, *, idempotent: bool) -> bool:
    """Whether an answer with this status may be sent again (see the module docstring)."""
    return status in (RETRYABLE_STATUS if idempotent else NOT_PROCESSED_STATUS)


def is_retryable(exc: BaseException, *, idempotent: bool) -> bool:
    """Whether another attempt is safe and may help (see the module docstring)."""
    status = status_of(exc)
    if status is not None:
        return is_retryable_status(status, idempotent=idempotent)
    if is_tls_failure(exc):  # a certificate the app does not trust stays untrusted
        return False
    if isinstance(exc, NOT_SENT):
        return True
    if isinstance(exc, httpx.TransportError | asyncio.TimeoutError):
        return idempotent
    return False


def fits(delay: float, policy: RetryPolicy, budget: RetryBudget) -> bool:
    """Whether a wait is one to sit through: within the cap and the job's remaining budget.

    A wait that does not fit is never shortened (that would be an early retry): the request
    fails instead, and the queue's redelivery takes over.
    """
    return delay <= policy.max_wait_s and delay < budget.remaining()


class GiveUp(Exception):
    """Raised inside the wait when the next wait cannot be honoured; carries the cause."""


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": uniform(c/2, c), c = base * 2^(n-1), capped.

    Half the wait is guaranteed (so a struggling service gets real relief); the other half is
    random (so many tenants throttled together do not retry in lockstep).
    """
    ceiling = min(policy.max_wait_s, policy.base_delay_s * (2 ** (attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


class _Wait:
    """tenacity wait strategy: Retry-After exactly (plus a hair), else jittered backoff.

    Raises GiveUp when the wait is longer than the cap or the job's remaining budget: sleeping
    less than Retry-After would be an early retry, so the request fails here instead.
    """

    def __init__(self, policy: RetryPolicy, budget: RetryBudget) -> None:
        self.policy = policy
        self.budget = budget

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        assert exc is not None
        asked = retry_after_of(exc)
        delay = (
            asked + SAFETY_MARGIN_S
            if asked is not None
            else backoff_delay(state.attempt_number, self.policy)
        )
        if not fits(delay, self.policy, self.budget):
            raise GiveUp(f"next wait {delay:.1f}s exceeds the cap or the job's budget") from exc
        self.budget.spend(delay, retry=True)
        telemetry.waited(delay, "backoff" if asked is None else "retry_after", retry_after=asked)
        return delay


class _StopWhenBudgetSpent(stop_base):
    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.budget.remaining() <= 0


async def call_with_retry(
    send: Callable[[], Awaitable[T]],
    *,
    idempotent: bool,
    budget: RetryBudget,
    policy: RetryPolicy | None = None,
    describe: str = "request",
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Run `send()` under the policy; return its result or raise the last failure as it was.

    The caller turns the raised failure into a typed error (classify_graph_failure).
    """
    policy = policy or RetryPolicy()
    retrying = AsyncRetrying(
        retry=retry_if_exception(lambda e: is_retryable(e, idempotent=idempotent)),
        stop=stop_any(stop_after_attempt(policy.max_attempts), _StopWhenBudgetSpent(budget)),
        wait=_Wait(policy, budget),
        sleep=sleep,
        before_sleep=lambda state: _log_retry(state, describe),
        reraise=True,
    )
    try:
        return await retrying(send)
    except GiveUp as give_up:
        cause = give_up.__cause__
        assert cause is not None
        raise cause from None
    except RetryError as exhausted:  # pragma: no cover - reraise=True re-raises the cause
        raise exhausted.last_attempt.exception() or exhausted from None


def _log_retry(state: RetryCallState, describe: str) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "retrying %s after %s (attempt %d, waiting %.2fs)",
        describe,
        f"HTTP {status_of(exc)}" if exc is not None and status_of(exc) else type(exc).__name__,
        state.attempt_number,
        wait,
    )
