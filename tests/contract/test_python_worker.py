"""function_app.py under the real Python 3.13 worker behaves as under the local host.

The worker (azure-functions-runtime) imports and indexes the app, and each invocation goes
through its own argument conversion, return-value checks and HTTP encoding; worker313.py plays
the host's side (docs/decisions.md, "Python worker contract"). The app reaches Azurite and the
fake cloud through the settings in the worker's environment, as on Azure. The sample apps the
local host's tests use for what the worker refuses (tests/integration/devhost_return_app.py,
devhost_type_checking_app.py, devhost_annotation_app.py) run here too: both hosts must refuse
them the same way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import function_app
from devtools.azurite import Azurite
from devtools.fakecloud import FakeCloud
from tests.contract.worker313 import (
    RealWorker,
    WorkerEnv,
    http_request,
    http_response,
    queue_message,
    timer_request,
)

pytestmark = pytest.mark.contract

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APPS = REPO_ROOT / "tests" / "integration"


@dataclass(frozen=True)
class IndexedApp:
    """An app as the worker indexed it: the init reply and each function's metadata."""

    worker: RealWorker
    init: dict[str, Any]
    functions: dict[str, dict[str, Any]]

    async def invoke(
        self,
        name: str,
        inputs: Mapping[str, Mapping[str, Any]],
        trigger_metadata: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return await self.worker.invoke(self.functions[name], inputs, trigger_metadata)


@asynccontextmanager
async def indexed_app(
    env: WorkerEnv, app_dir: Path, settings: Mapping[str, str], log: Path
) -> AsyncIterator[IndexedApp]:
    worker = RealWorker(env, app_dir, settings, log)
    await worker.start()
    try:
        init = await worker.init()
        yield IndexedApp(worker, init, await worker.functions())
    finally:
        await worker.stop()


@pytest.fixture(scope="module")
async def app(
    worker_env: WorkerEnv,
    contract_cloud: FakeCloud,
    azurite: Azurite,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[IndexedApp]:
    settings = contract_cloud.app_env() | {
        "AzureWebJobsStorage": azurite.connection_string,
        "SCHEDULE": "0 0 2 * * *",
    }
    log = tmp_path_factory.mktemp("worker") / "function_app.log"
    async with indexed_app(worker_env, REPO_ROOT, settings, log) as indexed:
        yield indexed


def declared_bindings() -> dict[str, list[dict[str, Any]]]:
    """Each function's bindings as the app declares them, read on this (3.11) side."""
    function_app.app.functions_bindings = None  # get_functions() refuses a second call else
    functions = function_app.app.get_functions()
    return {f.get_function_name(): json.loads(f.get_function_json())["bindings"] for f in functions}


def indexed_bindings(indexed: IndexedApp) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [json.loads(raw) for raw in metadata["raw_bindings"]]
        for name, metadata in indexed.functions.items()
    }


def failure(reply: Mapping[str, Any]) -> str:
    """The message of a failed invocation or init ("" when it succeeded)."""
    result = reply["result"]
    return "" if result.get("status") == "Success" else str(result["exception"]["message"])


def header(headers: Mapping[str, str], name: str) -> str:
    return next(v for k, v in headers.items() if k.lower() == name.lower())


# function_app.py


async def test_every_function_indexes_with_the_bindings_the_app_declares(app: IndexedApp) -> None:
    assert failure(app.init) == "", app.worker.log_tail()
    declared = declared_bindings()
    assert indexed_bindings(app) == declared
    assert {"health_live", "post_runs", "tenant_job", "sweep"} <= declared.keys()


async def test_liveness_probe_answers_200_and_says_nothing_else(app: IndexedApp) -> None:
    reply = await app.invoke("health_live", {"req": http_request("GET", "/api/health/live")})

    status, _, body = http_response(reply)
    assert (status, json.loads(body)) == (200, {"status": "ok"})


async def test_post_runs_without_a_token_is_a_401_with_its_challenge(app: IndexedApp) -> None:
    request = http_request("POST", "/api/runs", body=b"{}")
    reply = await app.invoke("post_runs", {"req": request})

    status, headers, body = http_response(reply)
    assert status == 401
    assert header(headers, "WWW-Authenticate").startswith("Bearer")
    assert "error" in json.loads(body)


async def test_queue_message_is_handled_and_reaches_storage(
    app: IndexedApp, contract_cloud: FakeCloud
) -> None:
    # given a message that is not a tenant job: the worker records it and does not raise
    marker = f"contract-{uuid.uuid4().hex[:8]}"
    data, metadata = queue_message(f"{marker} is not a job", message_id=marker)

    handled = await app.invoke("tenant_job", {"msg": data}, metadata)

    # then an operator sees it, through the API under the same worker and the fake cloud's token
    assert failure(handled) == ""
    token = contract_cloud.operator_token("rita@contoso.example", ["xtenant.read"])
    request = http_request("GET", "/api/bad-messages", headers={"Authorization": f"Bearer {token}"})
    status, _, body = http_response(await app.invoke("bad_messages", {"req": request}))
    assert status == 200
    [record] = [m for m in json.loads(body)["bad_messages"] if marker in m["body"]]
    assert record["error_class"] == "bad_message"


@pytest.mark.parametrize("timer", ["sweep", "scheduled_run"])
async def test_timer_runs_to_success(app: IndexedApp, timer: str) -> None:
    reply = await app.invoke(timer, {"timer": timer_request()})

    assert failure(reply) == "", app.worker.log_tail()


# What the worker refuses (the local host refuses the same: tests/integration/test_devhost.py)


@pytest.fixture(scope="module")
async def return_app(
    worker_env: WorkerEnv, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[IndexedApp]:
    settings = {
        "PYTHON_SCRIPT_FILE_NAME": "devhost_return_app.py",
        "RETURN_QUEUE": "returns",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    }
    log = tmp_path_factory.mktemp("worker") / "return_app.log"
    async with indexed_app(worker_env, SAMPLE_APPS, settings, log) as indexed:
        assert failure(indexed.init) == ""
        yield indexed


async def test_queue_function_returning_a_value_fails_its_invocation(
    return_app: IndexedApp,
) -> None:
    data, metadata = queue_message("some body", message_id="m1")

    reply = await return_app.invoke("echo", {"msg": data}, metadata)

    assert failure(reply).startswith("RuntimeError: ")
    assert "without a $return binding" in failure(reply)


async def test_http_function_returning_none_fails_so_the_host_answers_500(
    return_app: IndexedApp,
) -> None:
    reply = await return_app.invoke("silent", {"req": http_request("GET", "/api/silent")})

    assert failure(reply).startswith("TypeError: unable to encode outgoing TypedData")


async def test_http_function_returning_a_str_answers_it(return_app: IndexedApp) -> None:
    reply = await return_app.invoke("hello", {"req": http_request("GET", "/api/hello")})

    assert failure(reply) == ""
    assert reply["return_value"] == {"string": "hello"}


async def test_annotation_resolving_only_for_type_checkers_indexes_no_function(
    worker_env: WorkerEnv, tmp_path: Path
) -> None:
    settings = {"PYTHON_SCRIPT_FILE_NAME": "devhost_type_checking_app.py"}
    async with indexed_app(worker_env, SAMPLE_APPS, settings, tmp_path / "log") as indexed:
        refusal = failure(indexed.init)
        assert indexed.functions == {}
    assert refusal == "NameError: name 'QueueMessage' is not defined"


async def test_annotation_that_does_not_fit_its_binding_indexes_no_function(
    worker_env: WorkerEnv, tmp_path: Path
) -> None:
    settings = {"PYTHON_SCRIPT_FILE_NAME": "devhost_annotation_app.py"}
    async with indexed_app(worker_env, SAMPLE_APPS, settings, tmp_path / "log") as indexed:
        refusal = failure(indexed.init)
        assert indexed.functions == {}
    assert refusal.startswith("FunctionLoadError: cannot load the relay function: ")
    assert "queueTrigger" in refusal
    assert refusal.endswith("annotation HttpRequest")
