"""Fixtures for tests that talk HTTPS to the fake cloud on 127.0.0.1.

`fakecloud`, `azurite` and `stack` are the session's, in tests/conftest.py (the fuzz tests use
them too). `cloud` (per test): the session's fake cloud, with faults cleared, the request log
reset and the directory state (tenants, federated credentials, app secrets and certificates,
token lifetimes) put back as it was after the test, so tests can change anything without
leaking. `graph_pool` (per test): the app's GraphPool on a fresh token chain, closed afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from devtools.fakecloud.server import FakeCloud
from shared.graph import GraphOptions, GraphPool, RetryPolicy
from shared.identity import TenantCredentialCache
from shared.settings import Settings

#: The production rules (attempts, exact Retry-After, no blind re-create) with the backoff used
#: when Graph sends no Retry-After shortened, so a test that exhausts retries takes ~1 s.
TEST_RETRY = RetryPolicy(base_delay_s=0.02, budget_s=60.0)


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
