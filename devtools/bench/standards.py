"""`python -m devtools.bench.standards [--n N]`: what evaluating a standard costs, in report
(plan) mode: Graph requests and the app's CPU per (tenant, standard).

The fake cloud serves from a background thread of this process; the app's CPU is the main
thread's (`time.thread_time`), so the fake cloud's own work is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devtools.fakecloud.scenario import make_scenario
from devtools.fakecloud.server import FakeCloud

#: each standard with the params it is evaluated with
STANDARDS: dict[str, dict[str, Any]] = {
    "tenant-baseline": {},
    "ensure-group": {"mail_nickname": "helpdesk", "display_name": "Helpdesk"},
    # no emergency accounts in the bench tenants: the plan reads the policies, notes the refusal
    "conditional-access-baseline": {},
    "security-defaults": {},
    "authentication-methods": {},
    "sharepoint-sharing": {},
}


async def measure(tenants: list[str]) -> dict[str, dict[str, float]]:
    """Per standard: mean Graph requests and CPU ms per tenant, every tenant in report mode."""
    from shared.graph import GraphPool
    from shared.identity import TenantCredentialCache
    from shared.runner import run_tenant_job
    from shared.settings import Settings

    settings = Settings.from_env()
    credentials = TenantCredentialCache(settings)
    pool = GraphPool(settings, credentials)
    figures: dict[str, dict[str, float]] = {}
    try:
        for tenant_id in tenants:  # tokens first: their cost is not a standard's
            await run_tenant_job(pool, tenant_id=tenant_id, job="tenant-baseline", mode="plan")
        for job, params in STANDARDS.items():
            started, requests = time.thread_time(), 0
            for tenant_id in tenants:
                result = await run_tenant_job(
                    pool, tenant_id=tenant_id, job=job, mode="plan", params=params
                )
                requests += result.graph_requests
            cpu_ms = (time.thread_time() - started) * 1000
            n = len(tenants)
            figures[job] = {"graph_requests": requests / n, "cpu_ms": cpu_ms / n}
    finally:
        await pool.close()
        await credentials.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench.standards")
    parser.add_argument("--n", type=int, default=50, help="tenants (default 50)")
    args = parser.parse_args(argv)
    scenario = make_scenario(n_tenants=args.n)
    with (
        tempfile.TemporaryDirectory() as workdir,
        FakeCloud(scenario, workdir=Path(workdir)) as cloud,
    ):
        os.environ.update(cloud.app_env())
        figures = asyncio.run(measure([t.tenant_id for t in scenario.tenants]))
    print(f"standards in report mode, {args.n} tenants, per (tenant, standard):")
    for job, figure in figures.items():
        print(
            f"  {job}: {figure['graph_requests']:.1f} Graph requests, {figure['cpu_ms']:.2f} ms CPU"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
