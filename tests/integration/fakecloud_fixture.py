"""`fakecloud` (session): one FakeCloud for the whole test run, serving from a background thread,
with `os.environ` pointed at it (`app_env()`: MSI endpoint, authority, Graph, CA bundle) and
restored afterwards.
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
