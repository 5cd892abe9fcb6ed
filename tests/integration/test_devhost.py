"""The dev host runs a v2 app's timer, queue and HTTP functions with the Functions host's rules.

Every test starts its own DevHost on the sample app (`devhost_sample_app`) with its own queue
names in the session's Azurite, and waits on `drain()` or on what the sample observed, never on
the clock. The NCRONTAB and host.json tests need no Azurite.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import azure.functions as func
import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devtools.azurite import Azurite, ensure_installed, repo_root
from devtools.devhost import DevHost, DevHostError, DrainTimeoutError
from devtools.devhost.config import load_host_json, parse_timespan
from devtools.devhost.ncrontab import CronSchedule, parse_schedule
from tests.integration import devhost_sample_app as sample

pytestmark = pytest.mark.integration

SAMPLE_APP = "tests.integration.devhost_sample_app"
RETURN_APP = "tests.integration.devhost_return_app"
TYPE_CHECKING_APP = "tests.integration.devhost_type_checking_app"
ANNOTATION_APP = "tests.integration.devhost_annotation_app"
NEVER = "0 0 0 1 1 *"  # once a year: a schedule that does not fire during a test
WAIT_S = 10.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def write_host_json(directory: Path, function_timeout: str = "00:05:00", **queues: Any) -> Path:
    path = directory / "host.json"
    document = {"version": "2.0", "functionTimeout": function_timeout}
    document["extensions"] = {"queues": {"visibilityTimeout": "00:00:00", **queues}}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def observed() -> sample.Observations:
    return sample.reset()


@pytest.fixture
def queue_name() -> str:
    return f"devhost-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def running_host(
    azurite: Azurite,
    host_json: Path,
    queue: str,
    *,
    bodies: Sequence[str] = (),
    poison_trigger: bool = True,
    schedule: str = NEVER,
    schedule_timers: bool = False,
    deliveries: int = 1,
) -> AsyncIterator[DevHost]:
    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        "SAMPLE_QUEUE": queue,
        "SAMPLE_POISON_QUEUE": f"{queue}-poison" if poison_trigger else f"{queue}-elsewhere",
        "SAMPLE_SCHEDULE": schedule,
        "SAMPLE_BODIES": ",".join(bodies),
    }
    host = DevHost(
        SAMPLE_APP,
        settings=settings,
        host_json=host_json,
        http_port=0,
        schedule_timers=schedule_timers,
        shutdown_grace_s=1.0,
        deliveries=deliveries,
    )
    async with host:
        yield host


async def until(condition: Callable[[], bool], observed: sample.Observations) -> None:
    """Wait, bounded, until the sample app has observed what `condition` asks for."""
    async with asyncio.timeout(WAIT_S):
        while not condition():
            observed.changed.clear()
            await observed.changed.wait()


async def raw_messages(azurite: Azurite, queue: str) -> list[str]:
    client = QueueClient.from_connection_string(azurite.connection_string, queue)
    async with client:
        return [m.content async for m in client.receive_messages(max_messages=32)]


async def enqueue(azurite: Azurite, queue: str, bodies: list[str], *, raw: bool = False) -> None:
    policy = None if raw else TextBase64EncodePolicy()
    client = QueueClient.from_connection_string(
        azurite.connection_string, queue, message_encode_policy=policy
    )
    async with client:
        await client.create_queue()
        for body in bodies:
            await client.send_message(body)


# Timers and queues


async def test_timer_fired_once_enqueues_messages_that_are_all_processed(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    bodies = [f"job-{i}" for i in range(5)]
    async with running_host(azurite, write_host_json(tmp_path), queue_name, bodies=bodies) as host:
        fired = await host.fire_timers()
        report = await host.drain(WAIT_S)

    assert [(i.function, i.outcome) for i in fired] == [("emit", "succeeded")]
    assert not observed.timer_runs[0].past_due
    assert (report.processed, report.succeeded, report.failed) == (5, 5, 0)
    assert sorted(observed.succeeded) == bodies


async def test_every_message_runs_twice_at_once_when_delivered_twice(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    async with running_host(
        azurite, write_host_json(tmp_path), queue_name, bodies=["a", "b"], deliveries=2
    ) as host:
        await host.fire_timers()
        report = await host.drain(WAIT_S)

    assert sorted(observed.succeeded) == ["a", "a", "b", "b"]
    assert (report.processed, report.failed) == (4, 0)
    assert await raw_messages(azurite, queue_name) == []


async def test_failing_message_is_retried_with_growing_dequeue_count_until_max_dequeue_count(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    host_json = write_host_json(tmp_path, maxDequeueCount=3)
    async with running_host(azurite, host_json, queue_name, bodies=["fail-1"]) as host:
        await host.fire_timers()
        report = await host.drain(WAIT_S)

    assert observed.attempts == [("fail-1", 1), ("fail-1", 2), ("fail-1", 3)]
    assert (report.failed, report.poisoned) == (3, 1)
    assert [f.dequeue_count for f in report.failures] == [1, 2, 3]
    assert report.failures[-1].poisoned_to == f"{queue_name}-poison"


async def test_message_failing_max_dequeue_count_times_lands_in_poison_queue_with_same_body(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    host_json = write_host_json(tmp_path, maxDequeueCount=2)
    async with running_host(
        azurite, host_json, queue_name, bodies=["fail-é"], poison_trigger=False
    ) as host:
        await host.fire_timers()
        await host.drain(WAIT_S)

    poison = await raw_messages(azurite, f"{queue_name}-poison")
    assert [base64.b64decode(m).decode() for m in poison] == ["fail-é"]
    assert await raw_messages(azurite, queue_name) == []


async def test_poison_queue_trigger_receives_the_poisoned_message(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    host_json = write_host_json(tmp_path, maxDequeueCount=2)
    async with running_host(azurite, host_json, queue_name, bodies=["fail-7"]) as host:
        await host.fire_timers()
        report = await host.drain(WAIT_S)

    assert observed.poison == [("fail-7", 1)]
    assert report.succeeded == 1  # the poison trigger's run


async def test_message_that_is_not_base64_goes_to_poison_without_running(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    await enqueue(azurite, queue_name, ["not base64!"], raw=True)
    async with running_host(
        azurite, write_host_json(tmp_path), queue_name, poison_trigger=False
    ) as host:
        report = await host.drain(WAIT_S)

    assert (report.processed, report.poisoned) == (0, 1)
    assert observed.attempts == []
    assert await raw_messages(azurite, f"{queue_name}-poison") == ["not base64!"]


async def test_queue_function_runs_at_most_batch_size_messages_at_once(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    await enqueue(azurite, queue_name, [f"hold-{i}" for i in range(10)])
    host_json = write_host_json(tmp_path, batchSize=4, newBatchThreshold=0)
    async with running_host(azurite, host_json, queue_name) as host:
        await until(lambda: observed.running == 4, observed)
        observed.release.set()
        report = await host.drain(WAIT_S)

    assert report.succeeded == 10
    assert observed.peak == 4


async def test_next_batch_is_fetched_when_running_drops_to_new_batch_threshold(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    # given a first batch of 2 quick and 2 held messages, then 8 held ones
    await enqueue(azurite, queue_name, ["quick-1", "quick-2", *(f"hold-{i}" for i in range(10))])
    host_json = write_host_json(tmp_path, batchSize=4, newBatchThreshold=2)
    async with running_host(azurite, host_json, queue_name) as host:
        # when the quick ones end, 2 run: that is the threshold, so 4 more are fetched
        await until(lambda: observed.running == 6, observed)
        observed.release.set()
        await host.drain(WAIT_S)

    # then batchSize + newBatchThreshold ran at once, as the host documents, and no more
    assert len(observed.succeeded) == 12
    assert observed.peak == 6


async def test_drain_that_runs_out_of_time_raises_with_what_is_left(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    await enqueue(azurite, queue_name, ["hold-forever"])
    async with running_host(azurite, write_host_json(tmp_path), queue_name) as host:
        with pytest.raises(DrainTimeoutError) as raised:
            await host.drain(0.5)
        observed.release.set()
        await host.drain(WAIT_S)

    assert raised.value.in_flight == 1
    assert raised.value.queued == {queue_name: 1, f"{queue_name}-poison": 0}


async def test_function_running_past_function_timeout_fails_and_is_retried(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    await enqueue(azurite, queue_name, ["hold-1"])
    host_json = write_host_json(tmp_path, function_timeout="00:00:01", maxDequeueCount=1)
    async with running_host(azurite, host_json, queue_name, poison_trigger=False) as host:
        report = await host.drain(WAIT_S)

    assert report.failures[0].error == "timed out after functionTimeout 1 s"
    assert report.poisoned == 1


async def test_timer_on_its_schedule_fires_without_being_asked(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    every_second = "* * * * * *"
    async with running_host(
        azurite,
        write_host_json(tmp_path),
        queue_name,
        schedule=every_second,
        schedule_timers=True,
    ):
        await until(lambda: len(observed.timer_runs) >= 1, observed)

    status = observed.timer_runs[0].schedule_status
    assert datetime.fromisoformat(status["Next"]) > datetime.fromisoformat(status["Last"])


# HTTP


@asynccontextmanager
async def http_host(azurite: Azurite, tmp_path: Path) -> AsyncIterator[DevHost]:
    async with running_host(azurite, write_host_json(tmp_path), "devhost-http") as host:
        yield host


async def test_http_route_parameters_method_query_and_body_reach_the_function(
    azurite: Azurite, tmp_path: Path
) -> None:
    async with http_host(azurite, tmp_path) as host, aiohttp.ClientSession() as session:
        url = host.route_url("greet/Ada%20L")
        params = {"code": host.function_key, "lang": "en"}
        async with session.post(url, params=params, data=b"hi") as response:
            status, answer = response.status, await response.json()

    assert status == 200
    assert answer["name"] == "Ada L"
    assert (answer["method"], answer["params"]["lang"], answer["body"]) == ("POST", "en", "hi")
    assert answer["thread"].startswith("devhost")  # a sync function runs on the thread pool


async def test_http_literal_route_wins_over_a_parameter(azurite: Azurite, tmp_path: Path) -> None:
    async with http_host(azurite, tmp_path) as host, aiohttp.ClientSession() as session:
        headers = {"x-functions-key": host.function_key}
        async with session.get(host.route_url("greet/everyone"), headers=headers) as response:
            assert await response.text() == "hello, everyone"


async def test_http_method_the_function_does_not_accept_is_not_found(
    azurite: Azurite, tmp_path: Path
) -> None:
    async with http_host(azurite, tmp_path) as host, aiohttp.ClientSession() as session:
        url = host.route_url("greet/ada")
        async with session.delete(url, params={"code": host.function_key}) as response:
            assert response.status == 404


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_function_route_without_the_key_is_unauthorized(
    azurite: Azurite, tmp_path: Path, key: str | None
) -> None:
    async with http_host(azurite, tmp_path) as host, aiohttp.ClientSession() as session:
        params = {"code": key} if key else {}
        async with session.get(host.route_url("greet/ada"), params=params) as response:
            assert response.status == 401


@pytest.mark.parametrize("where", ["query", "header"])
async def test_function_route_with_the_key_answers(
    azurite: Azurite, tmp_path: Path, where: str
) -> None:
    async with http_host(azurite, tmp_path) as host, aiohttp.ClientSession() as session:
        key = host.function_key
        params = {"code": key} if where == "query" else {}
        headers = {"x-functions-key": key} if where == "header" else {}
        url = host.route_url("greet/ada")
        async with session.get(url, params=params, headers=headers) as response:
            assert response.status == 200
            assert response.content_type == "application/json"


async def test_admin_endpoint_runs_a_timer_function_now(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    async with (
        running_host(azurite, write_host_json(tmp_path), queue_name, bodies=["x"]) as host,
        aiohttp.ClientSession(headers={"x-functions-key": host.function_key}) as session,
    ):
        url = f"{host.http_base_url}/admin/functions/emit"
        async with session.post(url, json={"input": ""}) as response:
            assert response.status == 202
        await until(lambda: observed.succeeded == ["x"], observed)


@pytest.mark.parametrize(("name", "key", "status"), [("emit", "wrong", 401), ("work", None, 400)])
async def test_admin_endpoint_refuses_a_wrong_key_and_what_is_not_a_timer(
    azurite: Azurite, tmp_path: Path, name: str, key: str | None, status: int
) -> None:
    async with http_host(azurite, tmp_path) as host, aiohttp.ClientSession() as session:
        headers = {"x-functions-key": key or host.function_key}
        url = f"{host.http_base_url}/admin/functions/{name}"
        async with session.post(url, headers=headers) as response:
            assert response.status == status


async def test_anonymous_route_needs_no_key_and_keeps_its_headers(
    azurite: Azurite, tmp_path: Path
) -> None:
    async with (
        http_host(azurite, tmp_path) as host,
        aiohttp.ClientSession() as session,
        session.get(host.route_url("ping")) as response,
    ):
        assert (response.status, await response.text()) == (200, "pong")
        assert response.headers["X-Sample"] == "yes"
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_int_constraint_matches_numbers_only(azurite: Azurite, tmp_path: Path) -> None:
    async with http_host(azurite, tmp_path) as host, aiohttp.ClientSession() as session:
        async with session.get(host.route_url("items/42")) as response:
            assert (response.status, await response.text()) == (200, "item 42")
        async with session.get(host.route_url("items/abc")) as response:
            assert response.status == 404


async def test_http_function_that_raises_answers_500(azurite: Azurite, tmp_path: Path) -> None:
    async with (
        http_host(azurite, tmp_path) as host,
        aiohttp.ClientSession() as session,
        session.get(host.route_url("boom")) as response,
    ):
        assert response.status == 500


# Start-up checks


def app_with_queue_output() -> ModuleType:
    module = ModuleType("app_with_queue_output")
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="inbox", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="outbox", connection="AzureWebJobsStorage")
    def relay(msg: func.QueueMessage, out: func.Out[str]) -> None:
        out.set(msg.get_body().decode())

    module.app = app  # type: ignore[attr-defined]
    return module


async def test_app_with_an_unsupported_binding_fails_at_start_naming_it(tmp_path: Path) -> None:
    host = DevHost(app_with_queue_output(), settings={}, host_json=write_host_json(tmp_path))
    with pytest.raises(DevHostError) as raised:
        await host.start()

    assert raised.value.problems == [
        "function relay: binding 'out' of type 'queue' (out) is not supported by the dev host; "
        "supported: timerTrigger, queueTrigger, httpTrigger (with its http output)"
    ]


async def test_missing_settings_fail_at_start_all_listed(tmp_path: Path) -> None:
    host = DevHost(SAMPLE_APP, settings={}, host_json=write_host_json(tmp_path), http_port=0)
    with pytest.raises(DevHostError) as raised:
        await host.start()

    assert raised.value.problems == [
        "function emit: schedule '%SAMPLE_SCHEDULE%' names no app setting",
        "function work: queueName '%SAMPLE_QUEUE%' names no app setting",
        "function poisoned: queueName '%SAMPLE_POISON_QUEUE%' names no app setting",
    ]


async def test_settings_apply_while_running_and_are_restored_after_stop(
    azurite: Azurite, tmp_path: Path, queue_name: str
) -> None:
    assert "SAMPLE_QUEUE" not in os.environ
    async with running_host(azurite, write_host_json(tmp_path), queue_name):
        assert os.environ["SAMPLE_QUEUE"] == queue_name

    assert "SAMPLE_QUEUE" not in os.environ


async def test_settings_can_come_from_a_local_settings_file(
    azurite: Azurite, tmp_path: Path, queue_name: str, observed: sample.Observations
) -> None:
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "SAMPLE_QUEUE": queue_name,
        "SAMPLE_POISON_QUEUE": f"{queue_name}-poison",
        "SAMPLE_SCHEDULE": NEVER,
        "SAMPLE_BODIES": "from-file",
    }
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
    host = DevHost(SAMPLE_APP, settings=settings, host_json=write_host_json(tmp_path), http_port=0)
    async with host:
        await host.fire_timers()
        await host.drain(WAIT_S)

    assert observed.succeeded == ["from-file"]


async def test_cli_fires_timers_once_drains_and_exits(azurite: Azurite, tmp_path: Path) -> None:
    queue = f"devhost-cli-{uuid.uuid4().hex[:8]}"
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "SAMPLE_QUEUE": queue,
        "SAMPLE_POISON_QUEUE": f"{queue}-poison",
        "SAMPLE_SCHEDULE": NEVER,
        "SAMPLE_BODIES": "a,b,fail-c",
    }
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": values}), encoding="utf-8")
    host_json = write_host_json(tmp_path, maxDequeueCount=1)
    command = ["-m", "devtools.devhost", "--app", SAMPLE_APP, "--settings", str(settings)]
    command += ["--host-json", str(host_json), "--port", "0", "--once", "--drain"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        cwd=REPO_ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()

    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert "devhost ready" in lines
    assert lines[-1].endswith("4 processed, 3 succeeded, 1 failed, 1 poisoned")


# What the Python worker refuses, refused the same way (tests/contract runs these apps under it)


@asynccontextmanager
async def return_app_host(azurite: Azurite, host_json: Path, queue: str) -> AsyncIterator[DevHost]:
    settings = {"AzureWebJobsStorage": azurite.connection_string, "RETURN_QUEUE": queue}
    host = DevHost(RETURN_APP, settings=settings, host_json=host_json, http_port=0)
    async with host:
        yield host


async def test_queue_function_that_returns_a_value_fails_until_its_message_is_poisoned(
    azurite: Azurite, tmp_path: Path, queue_name: str
) -> None:
    await enqueue(azurite, queue_name, ["some body"])
    host_json = write_host_json(tmp_path, maxDequeueCount=2)
    async with return_app_host(azurite, host_json, queue_name) as host:
        report = await host.drain(WAIT_S)

    assert (report.succeeded, report.failed, report.poisoned) == (0, 2, 1)
    assert report.failures[0].error == (
        "RuntimeError: function 'echo' without a $return binding returned a non-None value"
    )
    poison = await raw_messages(azurite, f"{queue_name}-poison")
    assert [base64.b64decode(m).decode() for m in poison] == ["some body"]


async def test_http_function_that_returns_none_answers_500(
    azurite: Azurite, tmp_path: Path, queue_name: str
) -> None:
    async with (
        return_app_host(azurite, write_host_json(tmp_path), queue_name) as host,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(host.route_url("silent")) as response:
            silent = response.status
        async with session.get(host.route_url("hello")) as response:
            hello = (response.status, await response.text())

    assert silent == 500
    assert hello == (200, "hello")


async def test_annotation_that_resolves_only_for_type_checkers_refuses_the_app(
    tmp_path: Path,
) -> None:
    host = DevHost(TYPE_CHECKING_APP, settings={}, host_json=write_host_json(tmp_path))
    with pytest.raises(DevHostError) as raised:
        await host.start()

    assert isinstance(raised.value.__cause__, NameError)
    assert raised.value.problems == [
        "function inbox: typing.get_type_hints raised NameError: name 'QueueMessage' is not "
        "defined; the Python worker indexes no function of this app (is an annotation "
        "imported only under TYPE_CHECKING?)"
    ]


async def test_annotations_that_do_not_fit_their_bindings_refuse_the_app(tmp_path: Path) -> None:
    host = DevHost(ANNOTATION_APP, settings={}, host_json=write_host_json(tmp_path))
    with pytest.raises(DevHostError) as raised:
        await host.start()

    assert raised.value.problems == [
        'function relay: type of msg binding in the binding decorator "queueTrigger" does not '
        'match its Python annotation "HttpRequest"',
        'function page: Python return annotation "NoneType" does not match binding type "http"',
    ]


async def test_trigger_annotated_as_its_raw_payload_is_refused(tmp_path: Path) -> None:
    module = ModuleType("app_with_raw_trigger")
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="inbox", connection="AzureWebJobsStorage")
    def raw(msg: str) -> None:
        return None

    module.app = app  # type: ignore[attr-defined]
    host = DevHost(module, settings={}, host_json=write_host_json(tmp_path))
    with pytest.raises(DevHostError, match="parameter msg is annotated str"):
        await host.start()


# Azurite


async def test_azurite_connection_string_reaches_queue_and_table_services(
    azurite: Azurite,
) -> None:
    name = f"probe{uuid.uuid4().hex[:8]}"
    async with QueueServiceClient.from_connection_string(azurite.connection_string) as queues:
        await queues.create_queue(name)
        assert name in [q.name async for q in queues.list_queues()]
    async with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        await tables.create_table(name)
        assert name in [t.name async for t in tables.list_tables()]


def test_azurite_is_stopped_when_its_block_raises(azurite: Azurite) -> None:
    second = Azurite(ensure_installed(repo_root()))
    seen: list[int | None] = []

    def use_then_fail() -> None:
        with second:
            seen.append(second.pid)
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        use_then_fail()

    assert seen[0] is not None
    assert not Path(f"/proc/{seen[0]}").exists()
    assert second.pid is None


async def test_azurite_on_disk_keeps_messages_and_entities_across_a_restart(
    tmp_path: Path,
) -> None:
    stored = Azurite(ensure_installed(repo_root()), location=tmp_path)
    await asyncio.to_thread(stored.start)
    try:
        connection = stored.connection_string
        async with QueueClient.from_connection_string(connection, "kept") as queue:
            await queue.create_queue()
            await queue.send_message("still here")
        async with TableServiceClient.from_connection_string(connection) as tables:
            await tables.create_table("kept")
            await tables.get_table_client("kept").upsert_entity(
                {"PartitionKey": "p", "RowKey": "r"}
            )
        await asyncio.to_thread(stored.stop)
        await asyncio.to_thread(stored.start)

        assert stored.connection_string == connection
        async with QueueClient.from_connection_string(connection, "kept") as queue:
            assert [m.content for m in await queue.peek_messages(max_messages=5)] == ["still here"]
        async with TableServiceClient.from_connection_string(connection) as tables:
            kept = tables.get_table_client("kept")
            assert [e["RowKey"] async for e in kept.list_entities()] == ["r"]
    finally:
        await asyncio.to_thread(stored.stop)


# host.json and NCRONTAB (no Azurite)


def test_host_json_defaults_follow_the_functions_host(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text('{"version": "2.0"}', encoding="utf-8")

    options = load_host_json(path)

    queues = options.queues
    assert (queues.batch_size, queues.new_batch_threshold, queues.max_dequeue_count) == (16, 8, 5)
    assert (queues.visibility_timeout_s, queues.message_encoding) == (0.0, "base64")
    assert options.route_prefix == "api"


def test_host_json_problems_are_reported_together(tmp_path: Path) -> None:
    path = write_host_json(tmp_path, "ten minutes", batchSize=64, messageEncoding="utf8")

    with pytest.raises(DevHostError) as raised:
        load_host_json(path)

    assert len(raised.value.problems) == 3


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00:30", 30), ("01:02:03", 3723), ("1.00:00:00", 86400), ("00:00:01.5", 1.5)],
)
def test_timespans_parse_like_dotnet(text: str, seconds: float) -> None:
    assert parse_timespan(text) == seconds


AFTER = datetime(2026, 11, 28, 22, 59, 30, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 */5 * * * *", datetime(2026, 11, 28, 23, 0, 0, tzinfo=UTC)),
        ("*/10 * * * * *", datetime(2026, 11, 28, 22, 59, 40, tzinfo=UTC)),
        ("5/15 * * * * *", datetime(2026, 11, 28, 22, 59, 35, tzinfo=UTC)),
        ("30 59 22 * * *", datetime(2026, 11, 29, 22, 59, 30, tzinfo=UTC)),
        ("0 0 9 * * mon-fri", datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)),
        ("0 0 9 * * 1,3", datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)),
        ("0 30 2 1 * *", datetime(2026, 12, 1, 2, 30, 0, tzinfo=UTC)),
        ("0 0 12 * Jan,Jul sun", datetime(2027, 1, 3, 12, 0, 0, tzinfo=UTC)),
        ("0 0 0 31 * *", datetime(2026, 12, 31, 0, 0, 0, tzinfo=UTC)),
        ("0 0 0 29 2 *", datetime(2028, 2, 29, 0, 0, 0, tzinfo=UTC)),
        ("0 0 0 1 * 0", datetime(2027, 8, 1, 0, 0, 0, tzinfo=UTC)),  # day AND weekday
        ("0 10-20/5 8 * * *", datetime(2026, 11, 29, 8, 10, 0, tzinfo=UTC)),
    ],
)
def test_ncrontab_next_occurrence(expression: str, expected: datetime) -> None:
    assert CronSchedule.parse(expression).next_after(AFTER) == expected


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "60 * * * * *", "* * * 0 * *", "* * * * 13 *", "* * * * * 7", "*/0 * * * * *"],
)
def test_ncrontab_rejects_what_the_host_rejects(expression: str) -> None:
    with pytest.raises(ValueError, match=r"NCRONTAB|field"):
        CronSchedule.parse(expression)


def test_timespan_schedule_repeats_from_the_previous_run() -> None:
    assert parse_schedule("00:05:00").next_after(AFTER) == datetime(
        2026, 11, 28, 23, 4, 30, tzinfo=UTC
    )
