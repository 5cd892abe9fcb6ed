"""Fixtures for tests that talk HTTPS to the fake cloud on 127.0.0.1.

`fakecloud` (session): one FakeCloud for the whole run, serving from a background thread, with
`os.environ` pointed at it (`app_env()`: MSI endpoint, authority, Graph, CA bundle) and restored
afterwards. `cloud` (per test): the same object, with faults cleared, the request log reset and
the directory state (tenants, federated credentials, app secrets and certificates, token
lifetimes) put back as it was after the test, so tests can change anything without leaking.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.fakecloud.scenario import make_scenario
from devtools.fakecloud.server import FakeCloud


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
