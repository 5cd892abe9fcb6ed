"""The short chaos run (devtools/chaos, `make chaos` is the full one): function_app on two
worker processes, every message delivered twice, while the managed identity endpoint goes down,
the token endpoint refuses the app's federation for every tenant, a worker is killed mid-apply,
Azurite restarts and the fake cloud's clock runs 4 minutes ahead. Each figure must be 0.

The run happens once for the module (about 40 s); each test reads one figure, and its message
is the figure's evidence (which rows, which writes, which tenants).
"""

from __future__ import annotations

import asyncio

import pytest

from devtools.chaos import ChaosConfig, ChaosReport, run_chaos

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> ChaosReport:
    workdir = tmp_path_factory.mktemp("chaos")
    report = asyncio.run(run_chaos(ChaosConfig.short(), workdir, say=print))
    print(report.text())
    return report


def test_every_row_of_the_run_ends_final(chaos: ChaosReport) -> None:
    figure = chaos.figure("rows_not_final")
    assert figure.value == 0, figure.explain()


def test_no_create_or_patch_reaches_graph_twice(chaos: ChaosReport) -> None:
    figure = chaos.figure("duplicate_writes")
    assert figure.value == 0, figure.explain()


def test_no_graph_request_comes_before_its_retry_after(chaos: ChaosReport) -> None:
    figure = chaos.figure("graph_early_retries")
    assert figure.value == 0, figure.explain()


def test_no_token_request_comes_before_its_retry_after(chaos: ChaosReport) -> None:
    figure = chaos.figure("token_early_retries")
    assert figure.value == 0, figure.explain()


def test_app_wide_faults_leave_every_fault_free_tenant_healthy(chaos: ChaosReport) -> None:
    figure = chaos.figure("fault_free_not_healthy")
    assert figure.value == 0, figure.explain()


def test_every_failed_row_has_an_error_class_and_a_remediation(chaos: ChaosReport) -> None:
    figure = chaos.figure("failures_unexplained")
    assert figure.value == 0, figure.explain()
