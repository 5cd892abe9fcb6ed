"""Queue messages, fuzzed, straight into the worker and the poison handler (`process_message`,
`process_poison`) on the session's Azurite and fake cloud.

What must hold for any body: nothing escapes the worker but RetryLater (the host's "try again
later"), the poison handler never raises, and no message is dropped without a record: it shows
in GET /api/bad-messages, or as its row in its run (GET /api/runs/{id}). A well-formed message
the run never recorded touches no tenant.

The explicit examples are the inputs that broke the worker before: nesting deeper than the JSON
parser goes, ids ending in a newline (which Table storage refuses as keys), huge strings, and
bodies that are not base64 (the host moves those to the poison queue without running the worker:
here the poison handler gets their text).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import example, given

from devtools.fakecloud.server import FakeCloud
from shared import worker as pipeline
from shared.services import Services
from tests.fuzz.strategies import (
    FUZZ,
    FUZZ_TENANT,
    HUGE,
    NO_SUCH_RUN,
    Body,
    UnaskedMessage,
    deep_json,
    queue_messages,
    unasked_messages,
)
from tests.integration.stack_fixture import Stack

pytestmark = pytest.mark.integration

#: The run the known_run fixture starts; a message body names it as "{known_run}".
KNOWN_RUN = "{known_run}"


def message(**fields: Any) -> Body:
    """A v2 message for the fuzz tenant's guest-cleanup row in the known run, with `fields`."""
    body = {
        "v": 2,
        "run_id": KNOWN_RUN,
        "tenant_id": FUZZ_TENANT,
        "job": "guest-cleanup",
        "mode": "plan",
        "params": {"days": 90},
        "origin": "manual",
        "requested_at": "2026-01-01T00:00:00+00:00",
        "requested_by": "api",
    }
    return Body.of(json.dumps(body | fields))


NESTED = Body.of(deep_json(opener="["))
NESTED_PARAMS = Body.of(message().text.replace('{"days": 90}', deep_json(opener="{")))
EXPLICIT = (
    NESTED,
    NESTED_PARAMS,
    message(run_id=NO_SUCH_RUN + "\n"),
    message(tenant_id=FUZZ_TENANT + "\n"),
    message(run_id=NO_SUCH_RUN, tenant_id=str(uuid.UUID(int=7, version=4))),
    message(requested_by="x" * HUGE),
    message(job=["x"], mode={"a": 1}),
    Body(b"%%% not base64 %%%"),
)


@dataclass(frozen=True)
class Worker:
    """What a fuzzed message meets: the app's Services, its API (stack), the fake cloud, and
    the known run's id. Short to print: Hypothesis prints it with every failing example."""

    services: Services
    stack: Stack
    cloud: FakeCloud
    run_id: str

    def __repr__(self) -> str:
        return f"Worker(run {self.run_id})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def body(self, body: Body) -> Body:
        """`body` with the known run's id where it names KNOWN_RUN."""
        return Body.of(body.text.replace(KNOWN_RUN, self.run_id))

    async def work(self, body: Body, message_id: str) -> None:
        """The worker on one message; RetryLater is its one allowed way out (a redelivery)."""
        with contextlib.suppress(pipeline.RetryLater):
            await pipeline.process_message(self.services, body.text, message_id=message_id)


@pytest.fixture(scope="module")
def worker(services: Services, stack: Stack, fakecloud: FakeCloud, known_run: str) -> Worker:
    return Worker(services, stack, fakecloud, known_run)


async def recorded(stack: Stack, message_id: str, body: Body) -> bool:
    """Whether the message left a record: a bad message, or its row in its run."""
    bad = (await stack.call("GET", "/api/bad-messages")).json()["bad_messages"]
    if any(m["message_id"] == message_id for m in bad):
        return True
    fields = _fields(body)
    run_id, tenant_id, job = (str(fields.get(k) or "") for k in ("run_id", "tenant_id", "job"))
    if not (run_id and tenant_id and job):
        return False
    found = await stack.call("GET", f"/api/runs/{quote(run_id, safe='')}")
    rows = found.json().get("rows", []) if found.status_code == 200 else []
    return any(r["tenant_id"] == tenant_id.lower() and r["job"] == job for r in rows)


def _fields(body: Body) -> dict[str, Any]:
    try:
        parsed = json.loads(body.text)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


@FUZZ
@given(body=queue_messages(KNOWN_RUN, FUZZ_TENANT))
@example(body=EXPLICIT[0])
@example(body=EXPLICIT[1])
@example(body=EXPLICIT[2])
@example(body=EXPLICIT[3])
@example(body=EXPLICIT[4])
@example(body=EXPLICIT[5])
@example(body=EXPLICIT[6])
@example(body=EXPLICIT[7])
async def test_the_worker_raises_only_retry_later_and_records_every_message(
    worker: Worker, body: Body
) -> None:
    body, message_id = worker.body(body), str(uuid.uuid4())

    await worker.work(body, message_id)

    assert await recorded(worker.stack, message_id, body), f"no record of {body!r}"


@FUZZ
@given(body=queue_messages(KNOWN_RUN, FUZZ_TENANT))
@example(body=EXPLICIT[0])
@example(body=EXPLICIT[1])
@example(body=EXPLICIT[2])
@example(body=EXPLICIT[3])
@example(body=EXPLICIT[4])
@example(body=EXPLICIT[5])
@example(body=EXPLICIT[6])
@example(body=EXPLICIT[7])
async def test_the_poison_handler_never_raises_and_records_every_message(
    worker: Worker, body: Body
) -> None:
    body, message_id = worker.body(body), str(uuid.uuid4())

    await pipeline.process_poison(worker.services, body.text, message_id=message_id)

    assert await recorded(worker.stack, message_id, body), f"no record of {body!r}"


@FUZZ
@given(unasked=unasked_messages(KNOWN_RUN, FUZZ_TENANT))
async def test_a_message_the_run_never_recorded_touches_no_tenant(
    worker: Worker, unasked: UnaskedMessage
) -> None:
    body, message_id = worker.body(unasked.body), str(uuid.uuid4())
    before = worker.cloud.requests(tenant_id=unasked.tenant_id)

    await worker.work(body, message_id)

    touched = worker.cloud.requests(tenant_id=unasked.tenant_id)[len(before) :]
    assert not touched, f"{len(touched)} requests to the tenant, first {touched[0].path}"
    assert await recorded(worker.stack, message_id, body), f"no record of {body!r}"
