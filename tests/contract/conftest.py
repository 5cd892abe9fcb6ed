"""Fixtures for running apps under the real Python 3.13 worker (worker313.py).

`worker_env` (session): the worker's venv, built on first use; every contract test is skipped,
with the reason, when it cannot be built here. `contract_cloud` (session): a fake cloud of its
own that changes nothing in this process's environment (the worker gets its settings instead).
`azurite` (session): Azurite on free ports, as for the integration tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.fakecloud.scenario import make_scenario
from devtools.fakecloud.server import FakeCloud
from tests.contract.worker313 import WorkerEnv, WorkerEnvUnavailable, ensure_worker_env
from tests.integration.azurite_fixture import azurite  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def worker_env() -> WorkerEnv:
    try:
        return ensure_worker_env(REPO_ROOT)
    except WorkerEnvUnavailable as reason:
        pytest.skip(f"the Python 3.13 worker's environment cannot be built here: {reason}")


@pytest.fixture(scope="session")
def contract_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCloud]:
    workdir = tmp_path_factory.mktemp("contract-cloud")
    with FakeCloud(make_scenario(n_tenants=1), workdir=workdir) as cloud:
        yield cloud
