"""The retry policy as pure logic: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from kiota_abstractions.api_error import APIError

from shared.graph import (
    RetryBudget,
    RetryPolicy,
    ThrottleGate,
    call_with_retry,
    is_retryable,
    parse_retry_after,
)


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def api_error(status: int, retry_after: str | None = None) -> APIError:
    headers = httpx.Headers({"Retry-After": retry_after} if retry_after else {})
    return APIError("graph said no", status, headers)  # type: ignore[arg-type]


class Scripted:
    """A send() that fails with each given error in turn, then returns "done"."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


@pytest.mark.parametrize(
    ("header", "seconds"), [("3", 3.0), ("2.128", 2.128), ("0", 0.0), (" 7 ", 7.0), ("-4", 0.0)]
)
def test_retry_after_in_seconds_integer_or_fractional(header: str, seconds: float) -> None:
    assert parse_retry_after(header) == pytest.approx(seconds)


def test_retry_after_as_http_date_is_seconds_from_now() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=42), usegmt=True)

    assert parse_retry_after(header, now=now) == pytest.approx(42.0)


@pytest.mark.parametrize("header", [None, "", "soon", "Thu, 99 Foo 2026"])
def test_missing_or_unreadable_retry_after_means_none(header: str | None) -> None:
    assert parse_retry_after(header) is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_retried_for_reads(status: int) -> None:
    assert is_retryable(api_error(status), idempotent=True)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_never_retried(status: int) -> None:
    assert not is_retryable(api_error(status), idempotent=True)


def test_a_create_is_retried_only_when_the_service_did_not_process_it() -> None:
    assert is_retryable(api_error(429), idempotent=False)
    assert is_retryable(api_error(503), idempotent=False)
    assert not is_retryable(api_error(500), idempotent=False)
    assert not is_retryable(api_error(504), idempotent=False)
    assert is_retryable(httpx.ConnectError("refused"), idempotent=False)
    assert not is_retryable(httpx.ReadError("reset after send"), idempotent=False)
    assert is_retryable(httpx.ReadError("reset after send"), idempotent=True)


async def test_waits_exactly_the_retry_after_then_succeeds() -> None:
    clock = FakeClock()
    send = Scripted(api_error(429, "2"), api_error(503, "0.5"))

    result = await call_with_retry(
        send, idempotent=True, budget=RetryBudget(300, clock=clock), sleep=clock.sleep
    )

    assert result == "done"
    assert send.calls == 3
    assert 2.0 <= clock.sleeps[0] < 2.1
    assert 0.5 <= clock.sleeps[1] < 0.6


async def test_backoff_without_retry_after_grows_and_stays_capped() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=6, base_delay_s=1.0, max_wait_s=60.0)
    send = Scripted(*(api_error(500) for _ in range(5)))

    await call_with_retry(
        send,
        idempotent=True,
        budget=RetryBudget(300, clock=clock),
        policy=policy,
        sleep=clock.sleep,
    )

    for n, wait in enumerate(clock.sleeps, start=1):
        ceiling = 1.0 * 2 ** (n - 1)
        assert ceiling / 2 <= wait <= ceiling


async def test_no_retry_on_not_found_raises_the_original_error_at_once() -> None:
    clock = FakeClock()
    send = Scripted(api_error(404))

    with pytest.raises(APIError) as caught:
        await call_with_retry(
            send, idempotent=True, budget=RetryBudget(300, clock=clock), sleep=clock.sleep
        )

    assert caught.value.response_status_code == 404
    assert send.calls == 1
    assert clock.sleeps == []


async def test_retry_after_longer_than_the_budget_gives_up_without_waiting() -> None:
    clock = FakeClock()
    send = Scripted(api_error(429, "120"))

    with pytest.raises(APIError) as caught:
        await call_with_retry(
            send, idempotent=True, budget=RetryBudget(30, clock=clock), sleep=clock.sleep
        )

    assert caught.value.response_status_code == 429
    assert clock.sleeps == []  # never retried early: it is the redelivery's turn


async def test_attempts_are_bounded() -> None:
    clock = FakeClock()
    send = Scripted(*(api_error(503, "1") for _ in range(10)))

    with pytest.raises(APIError):
        await call_with_retry(
            send,
            idempotent=True,
            budget=RetryBudget(300, clock=clock),
            policy=RetryPolicy(max_attempts=4),
            sleep=clock.sleep,
        )

    assert send.calls == 4


async def test_a_create_that_timed_out_after_sending_is_not_sent_again() -> None:
    clock = FakeClock()
    send = Scripted(httpx.ReadTimeout("no answer"))

    with pytest.raises(httpx.ReadTimeout):
        await call_with_retry(
            send, idempotent=False, budget=RetryBudget(300, clock=clock), sleep=clock.sleep
        )

    assert send.calls == 1


def test_throttle_gate_stays_shut_for_the_longest_retry_after_then_opens() -> None:
    clock = FakeClock()
    gate = ThrottleGate(clock)

    gate.hold(2.0)
    gate.hold(0.5)  # a shorter Retry-After told to another request does not shorten it

    assert 2.0 < gate.closed_for() < 2.1
    clock.now += 2.1
    assert gate.closed_for() == 0.0


def test_a_certificate_failure_is_never_retried_even_before_sending() -> None:
    import ssl

    import httpx

    from shared.graph import classify_graph_failure

    cause = ssl.SSLCertVerificationError("certificate verify failed: unable to get local issuer")
    failure = httpx.ConnectError("handshake failed")
    failure.__cause__ = cause

    assert is_retryable(failure, idempotent=True) is False
    assert classify_graph_failure(failure, tenant_id=None).error_class == "tls_failure"
