"""The fake cloud's early-retry judge: a request sent again before its Retry-After is early; a
tenant's other request already in flight when the Retry-After was told is not."""

from __future__ import annotations

import time

from devtools.fakecloud.requestlog import IN_FLIGHT_S, RequestLog


def told(log: RequestLog) -> float:
    log.retry_after_sent("graph", "t", 5.0, "GET /v1.0/users?()")
    return time.monotonic()


def test_the_same_request_again_before_retry_after_is_early_at_once() -> None:
    log = RequestLog()
    now = told(log)

    assert log.is_early("graph", "t", now, "GET /v1.0/users?()")


def test_another_request_in_flight_when_told_is_not_early_but_one_sent_later_is() -> None:
    log = RequestLog()
    now = told(log)

    assert not log.is_early("graph", "t", now, "GET /v1.0/groups?()")
    assert log.is_early("graph", "t", now + IN_FLIGHT_S, "GET /v1.0/groups?()")
    assert not log.is_early("graph", "other tenant", now + IN_FLIGHT_S, "GET /v1.0/groups?()")


def test_nothing_is_early_once_retry_after_has_elapsed() -> None:
    log = RequestLog()
    now = told(log)

    assert not log.is_early("graph", "t", now + 5.01, "GET /v1.0/users?()")


def test_with_several_clients_only_the_request_told_to_wait_can_be_early() -> None:
    log = RequestLog(one_client=False)
    now = told(log)

    assert not log.is_early("graph", "t", now + 1.0, "GET /v1.0/groups?()")
    assert log.is_early("graph", "t", now + 1.0, "GET /v1.0/users?()")


def test_a_request_is_judged_by_its_own_retry_after_not_a_later_one() -> None:
    log = RequestLog(one_client=False)
    now = told(log)  # users: 5 s
    log.retry_after_sent("graph", "t", 30.0, "GET /v1.0/groups?()")

    assert not log.is_early("graph", "t", now + 5.01, "GET /v1.0/users?()")
