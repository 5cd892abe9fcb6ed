"""A small v2 function app that only the dev host's tests run.

Queue names, the schedule and what the timer enqueues come from app settings, so each test picks
its own queues in the shared Azurite. What the functions saw is kept in `OBSERVED`:
- `emit` (timer) enqueues SAMPLE_BODIES (comma-separated) with the storage SDK, base64 encoded;
- `work` (queue SAMPLE_QUEUE) fails for bodies starting with "fail", waits for
  `OBSERVED.release` for bodies starting with "hold", and counts how many run at once;
- `poisoned` (queue SAMPLE_POISON_QUEUE, a sync function) records what reaches it;
- HTTP: `greet/{name}` (function key, GET/POST), `greet/everyone`, `ping` and `items/{id:int}`
  (anonymous), `boom` (raises).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from dataclasses import dataclass, field

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@dataclass
class Observations:
    attempts: list[tuple[str, int | None]] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    poison: list[tuple[str, int | None]] = field(default_factory=list)
    timer_runs: list[func.TimerRequest] = field(default_factory=list)
    running: int = 0
    peak: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.changed.set()

    def leave(self) -> None:
        self.running -= 1
        self.changed.set()


OBSERVED = Observations()


def reset() -> Observations:
    global OBSERVED
    OBSERVED = Observations()
    return OBSERVED


@app.timer_trigger(schedule="%SAMPLE_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def emit(timer: func.TimerRequest) -> None:
    observed = OBSERVED
    observed.timer_runs.append(timer)
    observed.changed.set()
    bodies = [b for b in os.environ.get("SAMPLE_BODIES", "").split(",") if b]
    queue = QueueClient.from_connection_string(
        os.environ["AzureWebJobsStorage"],  # noqa: SIM112 - the platform's setting name
        os.environ["SAMPLE_QUEUE"],
        message_encode_policy=TextBase64EncodePolicy(),
    )
    async with queue:
        with contextlib.suppress(ResourceExistsError):
            await queue.create_queue()
        for body in bodies:
            await queue.send_message(body)


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE%", connection="AzureWebJobsStorage")
async def work(msg: func.QueueMessage) -> None:
    observed = OBSERVED
    body = msg.get_body().decode()
    observed.attempts.append((body, msg.dequeue_count))
    observed.enter()
    try:
        if body.startswith("hold"):
            await observed.release.wait()
        else:
            await asyncio.sleep(0)  # yield, so a whole batch is running at once
        if body.startswith("fail"):
            raise RuntimeError(f"asked to fail: {body}")
        observed.succeeded.append(body)
    finally:
        observed.leave()


@app.queue_trigger(
    arg_name="msg", queue_name="%SAMPLE_POISON_QUEUE%", connection="AzureWebJobsStorage"
)
def poisoned(msg: func.QueueMessage) -> None:
    observed = OBSERVED
    with observed.lock:  # a sync function: runs on the worker thread pool
        observed.poison.append((msg.get_body().decode(), msg.dequeue_count))


@app.route(route="greet/{name}", methods=["GET", "POST"])
def greet(req: func.HttpRequest) -> func.HttpResponse:
    answer = {
        "name": req.route_params.get("name"),
        "method": req.method,
        "params": dict(req.params),
        "body": req.get_body().decode(),
        "thread": threading.current_thread().name,
    }
    return func.HttpResponse(json.dumps(answer), mimetype="application/json", status_code=200)


@app.route(route="greet/everyone", methods=["GET"])
def greet_everyone(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello, everyone")


@app.route(route="ping", auth_level=func.AuthLevel.ANONYMOUS)
async def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong", headers={"X-Sample": "yes"})


@app.route(route="items/{item_id:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def item(req: func.HttpRequest) -> str:
    return f"item {req.route_params['item_id']}"


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")
