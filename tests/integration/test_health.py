"""GET /api/health names what is wrong to an operator: storage; settings so broken that no
token can be checked leave every route at 503, and only the app's log names them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import azure.functions as func
import pytest

import function_app
from devtools.azurite import Azurite
from devtools.fakecloud import FakeCloud
from shared.services import Services

pytestmark = pytest.mark.integration


async def call_health(token: str = "") -> tuple[int, dict[str, object]]:
    """The route's own function, as the worker calls it (no host needed to say what it says)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = func.HttpRequest("GET", "http://127.0.0.1/api/health", headers=headers, body=b"")
    response = await function_app.health._function.get_user_function()(request)
    return response.status_code, json.loads(response.get_body())


@pytest.fixture
def fresh_services() -> Iterator[None]:
    saved = function_app._services
    function_app._services = None
    yield
    function_app._services = saved


async def test_storage_that_refuses_the_app_is_reported_as_storage(
    cloud: FakeCloud, azurite: Azurite, fresh_services: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_key = base64.b64encode(b"not the account key").decode()
    refused = azurite.connection_string.replace(
        azurite.connection_string.split("AccountKey=")[1].split(";")[0], wrong_key
    )
    monkeypatch.setenv("AzureWebJobsStorage", refused)
    function_app._services = Services.from_env()
    reader = cloud.operator_token("rita@contoso.example", ["xtenant.read"])

    status, body = await call_health(reader)
    await function_app.shutdown()

    assert status == 503
    assert body["status"] == "unhealthy"
    assert "storage" in body
    assert "settings" not in body


async def test_missing_settings_leave_the_app_unavailable_and_are_named_in_its_log(
    cloud: FakeCloud,
    fresh_services: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("APP_CLIENT_ID")
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    reader = cloud.operator_token("rita@contoso.example", ["xtenant.read"])

    status, body = await call_health(reader)

    assert status == 503
    assert body["error"]["code"] == "unavailable"  # type: ignore[index]
    assert "APP_CLIENT_ID" not in json.dumps(body)  # no token can be checked: nothing is told
    assert "missing APP_CLIENT_ID" in caplog.text
