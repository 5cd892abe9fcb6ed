"""Emitting and delivering: what a sink is sent, what is retried, what is recorded — the sinks
answer through httpx's MockTransport, storage is an in-memory stand-in of the table and queue."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.notify import (
    Delivery,
    DeliveryFailed,
    DeliveryPolicy,
    EventKind,
    FailedDeliveries,
    Notifier,
    Sink,
    SinkKind,
    deliver,
    gave_up,
)
from shared.notify import events as build
from shared.settings import Secret

URL = "https://hooks.example.com/hook?sig=s3cr3t-token"
NOW = datetime(2026, 11, 28, 2, 4, 11, tzinfo=UTC)
POLICY = DeliveryPolicy(attempts=3, base_delay_s=0.5, max_wait_s=10)
EVENT = build.app_recovered(since="2026-11-28T01:00:00+00:00", now=NOW)


class Table:
    """The two calls FailedDeliveries makes, in memory (its one query: a row key range)."""

    def __init__(self) -> None:
        self.entities: dict[tuple[str, str], dict[str, Any]] = {}

    async def upsert_entity(self, entity: dict[str, Any]) -> None:
        self.entities[(entity["PartitionKey"], entity["RowKey"])] = dict(entity)

    async def query_entities(
        self, query: str, *, parameters: dict[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        assert query == "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi"
        for (partition, row), entity in sorted(self.entities.items()):
            if partition == parameters["p"] and parameters["lo"] <= row < parameters["hi"]:
                yield entity


class Queue:
    def __init__(self, *, broken: bool = False) -> None:
        self.sent: list[str] = []
        self.broken = broken

    async def send_message(self, content: str) -> None:
        if self.broken:
            raise ConnectionError("storage is down")
        self.sent.append(content)


def notifier(
    answer: Callable[[httpx.Request], httpx.Response] | None = None,
    *,
    queue: Queue | None = None,
    kinds: tuple[SinkKind, ...] = (SinkKind.WEBHOOK, SinkKind.TEAMS),
) -> Notifier:
    transport = httpx.MockTransport(answer or (lambda request: httpx.Response(202)))
    return Notifier(
        queue or Queue(),  # type: ignore[arg-type]
        {kind: Sink(kind, Secret(URL)) for kind in kinds},
        public_url="https://func.example.net",
        failures=FailedDeliveries(Table()),  # type: ignore[arg-type]
        timeout_s=1,
        client=httpx.AsyncClient(transport=transport),
    )


class Answers:
    """Answers each request with the next of `statuses` (the last one repeats); counts them."""

    def __init__(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        self.statuses = list(statuses)
        self.headers = headers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return httpx.Response(status, headers=self.headers if status >= 400 else {})


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def message(kind: SinkKind = SinkKind.WEBHOOK) -> str:
    return Delivery(kind, EVENT.linked_from("https://func.example.net")).to_json()


async def test_emit_queues_one_message_per_sink_with_absolute_links_and_no_url() -> None:
    queue = Queue()
    outbox = notifier(queue=queue)

    await outbox.emit(EVENT, None)

    sent = [json.loads(m) for m in queue.sent]
    assert [m["sink"] for m in sent] == ["teams", "webhook"]
    assert {m["event"]["id"] for m in sent} == {EVENT.id}
    assert sent[0]["event"]["links"] == {"health": "https://func.example.net/api/health"}
    assert all("s3cr3t" not in m for m in queue.sent)


async def test_emit_without_sinks_queues_nothing() -> None:
    queue = Queue()

    await notifier(queue=queue, kinds=()).emit(EVENT)

    assert queue.sent == []


async def test_an_event_that_cannot_be_queued_is_counted_and_the_caller_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = notifier(queue=Queue(broken=True))

    await outbox.emit(EVENT)

    assert outbox.not_queued == 2
    assert f"could not queue event app_recovered {EVENT.id}" in caplog.text
    assert (await outbox.health())["not_queued_since_start"] == 2


async def test_a_sink_that_answers_500_then_202_is_delivered_on_the_second_try() -> None:
    answers, sleeps = Answers(500, 202), Sleeps()
    outbox = notifier(answers)

    delivered = await deliver(outbox, message(), policy=POLICY, sleep=sleeps)

    assert delivered
    assert len(answers.requests) == 2
    assert json.loads(answers.requests[1].content)["id"] == EVENT.id
    assert 0.25 <= sleeps[0] <= 0.5  # backoff with jitter


async def test_a_throttled_sink_is_tried_again_after_its_retry_after() -> None:
    answers, sleeps = Answers(429, 200, headers={"Retry-After": "2.5"}), Sleeps()

    await deliver(notifier(answers), message(), policy=POLICY, sleep=sleeps)

    assert sleeps == [2.5]


async def test_a_retry_after_longer_than_we_wait_is_left_to_the_queue() -> None:
    answers, sleeps = Answers(503, headers={"Retry-After": "120"}), Sleeps()
    outbox = notifier(answers)

    with pytest.raises(DeliveryFailed):
        await deliver(outbox, message(), policy=POLICY, sleep=sleeps)

    assert len(answers.requests) == 1
    assert sleeps == []
    last = (await outbox.health())["last_failure"]
    assert (last["answer"], last["gave_up"]) == ("HTTP 503", False)


async def test_a_sink_that_keeps_failing_raises_for_the_queue_to_try_again() -> None:
    answers = Answers(500)
    outbox = notifier(answers)

    with pytest.raises(DeliveryFailed):
        await deliver(outbox, message(SinkKind.TEAMS), policy=POLICY, sleep=Sleeps())

    assert len(answers.requests) == POLICY.attempts
    last = (await outbox.health())["last_failure"]
    assert last["sink"] == "teams"
    assert last["event_kind"] == EventKind.APP_RECOVERED.value


async def test_a_sink_that_refuses_is_not_tried_again_and_is_recorded_as_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = Answers(404)
    outbox = notifier(answers)
    caplog.set_level(logging.DEBUG)

    delivered = await deliver(outbox, message(), policy=POLICY, sleep=Sleeps())
    health = await outbox.health()

    assert not delivered
    assert len(answers.requests) == 1
    assert health["last_failure"]["answer"] == "HTTP 404"
    assert health["last_failure"]["gave_up"] is True
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in json.dumps(health)


async def test_a_redirect_is_not_followed() -> None:
    answers = Answers(307, headers={"Location": "https://elsewhere.example.com/"})

    assert not await deliver(notifier(answers), message(), policy=POLICY, sleep=Sleeps())
    assert len(answers.requests) == 1


async def test_a_timeout_is_tried_again_and_named_without_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    outbox = notifier(too_slow)

    with pytest.raises(DeliveryFailed):
        await deliver(outbox, message(), policy=POLICY, sleep=Sleeps())

    assert (await outbox.health())["last_failure"]["answer"] == "timeout"
    assert "s3cr3t" not in caplog.text


async def test_a_delivery_for_a_sink_no_longer_configured_is_dropped() -> None:
    answers = Answers(200)

    delivered = await deliver(
        notifier(answers, kinds=(SinkKind.WEBHOOK,)), message(SinkKind.TEAMS), policy=POLICY
    )

    assert not delivered
    assert answers.requests == []


async def test_the_poison_queue_records_the_delivery_as_given_up_with_its_last_answer() -> None:
    outbox = notifier(Answers(502))
    with pytest.raises(DeliveryFailed):
        await deliver(outbox, message(SinkKind.TEAMS), policy=POLICY, sleep=Sleeps())

    await gave_up(outbox, message(SinkKind.TEAMS))
    await gave_up(outbox, "not json")  # recorded nowhere, and never raises

    last = (await outbox.health())["last_failure"]
    assert (last["sink"], last["answer"], last["gave_up"]) == (
        "teams",
        "HTTP 502, every delivery",
        True,
    )
