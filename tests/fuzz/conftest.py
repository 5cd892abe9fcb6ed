"""Fixtures for the fuzz tests: a registered tenant, a run it is in, and the app's Services.

They use the session's stack (tests/conftest.py). What a module registers it removes, and it
waits until the host has worked every message a fuzzed request queued, so later tests start
from a quiet queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devtools.azurite import Azurite
from devtools.fakecloud.server import FakeCloud
from shared.services import Services
from tests.fuzz.strategies import FUZZ_TENANT
from tests.integration.stack_fixture import GUESTS, ROLES, Stack

DRAIN_S = 120.0


@pytest.fixture(scope="module")
async def fuzz_tenant(stack: Stack, fakecloud: FakeCloud) -> AsyncIterator[str]:
    """FUZZ_TENANT, registered with the app and consented in the fake cloud."""
    fakecloud.set_tenant(FUZZ_TENANT, state="consented", roles=ROLES, graph=dict(GUESTS))
    await stack.register(FUZZ_TENANT)
    yield FUZZ_TENANT
    await stack.call("DELETE", f"/api/tenants/{FUZZ_TENANT}")
    await stack.host.drain(DRAIN_S)


@pytest.fixture(scope="module")
async def known_run(stack: Stack, fuzz_tenant: str) -> str:
    """A finished plan run of guest-cleanup for the fuzz tenant: its id."""
    run_id = await stack.run("guest-cleanup", [fuzz_tenant], mode="plan", days=90)
    await stack.host.drain(DRAIN_S)
    return run_id


@pytest.fixture(scope="module")
async def services(fakecloud: FakeCloud, azurite: Azurite) -> AsyncIterator[Services]:
    """The app's Services on the session's Azurite and fake cloud, as a worker builds them."""
    env = fakecloud.app_env() | {
        "AzureWebJobsStorage": azurite.connection_string,
        "SCHEDULE": "0 0 2 * * *",
    }
    built = await Services.from_env(env).ready()
    yield built
    await built.close()
