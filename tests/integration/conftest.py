"""Fixtures for tests that talk HTTPS to the fake cloud on 127.0.0.1.

`fakecloud` (session): one FakeCloud for the whole run, serving from a background thread, with
`os.environ` pointed at it (`app_env()`: MSI endpoint, authority, Graph, CA bundle) and restored
afterwards. `cloud` (per test): the same object, with faults cleared, the request log reset and
the directory state (tenants, federated credentials, app secrets and certificates, token
lifetimes) put back as it was after the test, so tests can change anything without leaking.
`graph_pool` (per test): the app's GraphPool on a fresh token chain, closed afterwards.
`stack` (session, stack_fixture.py): function_app in the local host on Azurite and the fake cloud.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from devtools.fakecloud.scenario import make_scenario
from devtools.fakecloud.server import FakeCloud
from shared.graph import GraphOptions, GraphPool, RetryPolicy
from shared.identity import TenantCredentialCache
from shared.settings import Settings
from tests.integration.azurite_fixture import azurite  # noqa: F401
from tests.integration.stack_fixture import stack  # noqa: F401

#: The production rules (attempts, exact Retry-After, no blind re-create) with the backoff used
#: when Graph sends no Retry-After shortened, so a test that exhausts retries takes ~1 s.
TEST_RETRY = RetryPolicy(base_delay_s=0.02, budget_s=60.0)


@pytest.fixture(scope="session")
def fakecloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCloud]:
    scenario = make_scenario(n_tenants=3)
    workdir = tmp_path_factory.mktemp("fakecloud")
    with (
        FakeCloud(scenario, workdir=workdir) as cloud,
        pytest.MonkeyPatch.context() as env,
    ):
        for key, value in cloud.app_env().items():
            env.setenv(key, value)
        yield cloud


@pytest.fixture
def cloud(fakecloud: FakeCloud) -> Iterator[FakeCloud]:
    snapshot = fakecloud.state.snapshot()
    fakecloud.clear_faults()
    fakecloud.reset_log()
    yield fakecloud
    fakecloud.clear_faults()
    fakecloud.state.restore(snapshot)


@pytest.fixture
async def graph_pool(cloud: FakeCloud) -> AsyncIterator[GraphPool]:
    settings = Settings.from_env()
    credentials = TenantCredentialCache(settings)
    pool = GraphPool(settings, credentials, GraphOptions(retry=TEST_RETRY))
    yield pool
    await pool.close()
    await credentials.close()
