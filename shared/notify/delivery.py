"""Delivering one queued event to one sink: a JSON POST, retried on what retrying can fix.

- 2xx: delivered.
- 429, 408, 5xx, a timeout or a connection failure: tried again here with backoff, waiting the
  Retry-After the sink asked for (RFC 9110 10.2.3) when it fits; a few tries within a small
  budget, then `DeliveryFailed` goes up to the host, which delivers the message again after its
  visibility timeout, and after maxDequeueCount moves it to the poison queue (`gave_up`).
- any other answer (400, 401, 403, 404, a redirect): the sink refuses; trying again cannot
  help. Recorded as given up, and the message completes.
Each failure is recorded (GET /api/health shows the last) and logged with the sink's kind and
the event's kind and id: never the URL, whose token is the secret.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

from shared.graph import parse_retry_after
from shared.notify.failures import DeliveryFailure
from shared.notify.outbox import BadDelivery, Delivery, Notifier

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DeliveryPolicy:
    attempts: int = 3
    base_delay_s: float = 1.0
    #: the longest Retry-After waited for here; a longer one is left to the queue's redelivery
    max_wait_s: float = 10.0


POLICY = DeliveryPolicy()


class DeliveryFailed(Exception):
    """This delivery's tries failed: raised to the host so the queue delivers it again."""


class _Retryable(Exception):
    def __init__(self, answer: str, retry_after: float | None = None) -> None:
        super().__init__(answer)
        self.answer = answer
        self.retry_after = retry_after


class _Refused(Exception):
    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


async def deliver(
    notifier: Notifier,
    body: bytes | str,
    *,
    policy: DeliveryPolicy = POLICY,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Deliver one queued event; True when the sink took it. Raises DeliveryFailed for "again
    later"; a bad message or a sink no longer configured is logged and dropped."""
    try:
        delivery = Delivery.parse(body)
    except BadDelivery as bad:
        log.warning("dropping an unreadable event delivery: %s", bad)
        return False
    sink = notifier.sinks.get(delivery.sink)
    if sink is None:
        log.warning("event %s: sink %s is no longer configured", delivery.event.id, delivery.sink)
        return False
    try:
        await _post(notifier.client(), sink.url.value, sink.body(delivery.event), policy, sleep)
    except _Refused as refused:
        await _failed(notifier, delivery, refused.answer, gave_up=True)
        return False
    except _Retryable as failed:
        await _failed(notifier, delivery, failed.answer, gave_up=False)
        raise DeliveryFailed(f"{delivery.sink.value}: {failed.answer}") from None
    log.info("event %s %s delivered to %s", delivery.event.kind.value, delivery.event.id, sink.kind)
    return True


async def gave_up(notifier: Notifier, body: bytes | str) -> None:
    """A delivery that kept failing reached the poison queue: record it. Never raises."""
    try:
        delivery = Delivery.parse(body)
        last = (await notifier.failures.by_sink()).get(delivery.sink.value)
        answer = f"{last['answer']}, every delivery" if last else "every delivery failed"
        await _failed(notifier, delivery, answer, gave_up=True)
    except Exception as exc:  # the last stop: log it rather than cycle the message
        log.error("could not record an undelivered event: %s", type(exc).__name__)


async def _post(
    client: httpx.AsyncClient,
    url: str,
    body: object,
    policy: DeliveryPolicy,
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    retrying = AsyncRetrying(
        sleep=sleep,
        stop=stop_any(stop_after_attempt(policy.attempts), _AskedTooLong(policy)),
        wait=_wait(policy),
        retry=retry_if_exception_type(_Retryable),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            await _post_once(client, url, body)


async def _post_once(client: httpx.AsyncClient, url: str, body: object) -> None:
    try:
        response = await client.post(url, json=body)
    except httpx.TimeoutException:
        raise _Retryable("timeout") from None
    except httpx.TransportError as exc:  # its text may quote the URL: only its kind is kept
        raise _Retryable(type(exc).__name__) from None
    if response.is_success:
        return
    answer = f"HTTP {response.status_code}"
    if response.status_code in RETRYABLE_STATUS:
        raise _Retryable(answer, parse_retry_after(response.headers.get("retry-after")))
    raise _Refused(answer)


class _AskedTooLong(stop_base):
    """Stop here when the sink asks for a longer wait than we sit through."""

    def __init__(self, policy: DeliveryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> bool:
        wanted = _asked_wait(retry_state)
        return wanted is not None and wanted > self.policy.max_wait_s


def _wait(policy: DeliveryPolicy) -> Callable[[RetryCallState], float]:
    """The sink's Retry-After when it sent one, else exponential backoff with jitter."""

    def wait(state: RetryCallState) -> float:
        wanted = _asked_wait(state)
        if wanted is not None:
            return wanted
        backoff = policy.base_delay_s * 2 ** (state.attempt_number - 1)
        return float(backoff * (0.5 + random.random() / 2))  # noqa: S311 (jitter, not secrecy)

    return wait


def _asked_wait(state: RetryCallState) -> float | None:
    failure = state.outcome.exception() if state.outcome is not None else None
    return failure.retry_after if isinstance(failure, _Retryable) else None


async def _failed(notifier: Notifier, delivery: Delivery, answer: str, *, gave_up: bool) -> None:
    """Log the failure and record it for GET /api/health (a failed record is only logged)."""
    event = delivery.event
    logger = log.error if gave_up else log.warning
    logger(
        "event %s %s not delivered to %s (%s)%s",
        event.kind.value,
        event.id,
        delivery.sink.value,
        answer,
        ": given up" if gave_up else ": will be tried again",
    )
    failure = DeliveryFailure(
        sink=delivery.sink.value,
        event_kind=event.kind.value,
        event_id=event.id,
        answer=answer,
        at=datetime.now(UTC).isoformat(),
        gave_up=gave_up,
    )
    try:
        await notifier.failures.record(failure)
    except Exception as exc:  # the log line above already says it
        log.warning("could not record the failed delivery: %s", type(exc).__name__)
