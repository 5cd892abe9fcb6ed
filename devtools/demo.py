"""`make demo`: the token chain and the three jobs, plan then apply, in every demo tenant.

Starts the fake cloud (Entra ID + managed identity + Graph on 127.0.0.1) with the demo scenario,
points the app's real SDKs at it through the same settings used on Azure, runs every tenant
concurrently, and prints one row per (tenant, job). Exits 0 when every tenant got the outcome
the scenario expects of it (`expect`: "ok" or the error class the app must report).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devtools.fakecloud import FakeCloud, load_scenario
from devtools.fakecloud.scenario import Scenario, TenantSpec
from shared.graph import GraphPool
from shared.identity import TenantCredentials
from shared.runner import Status, TenantResult, run_tenant_job
from shared.settings import Settings

DEMO_SCENARIO = Path(__file__).parent / "fakecloud" / "scenarios" / "demo.json"
OK_STATUSES = {Status.CHANGED, Status.NO_CHANGES, Status.PLANNED, Status.NOT_LICENSED}


def demo_jobs(tenant: TenantSpec) -> list[tuple[str, dict[str, Any]]]:
    """The enrolments the demo runs in a tenant: guest clean-up, one group, the baseline."""
    domain = tenant.graph.get("domain") or f"t{tenant.tenant_id[:8]}.onmicrosoft.com"
    members = [f"{name}@{domain}" for name in ("adele", "bianca", "nobody")]
    return [
        ("guest-cleanup", {"days": 90}),
        (
            "ensure-group",
            {
                "mail_nickname": "xtenant-helpdesk",
                "display_name": "Helpdesk (managed by xtenant)",
                "description": "Members are set by xtenant; changes here are undone.",
                "members": members,
            },
        ),
        ("tenant-baseline", {}),
    ]


async def run_tenant(pool: GraphPool, tenant: TenantSpec) -> list[tuple[str, TenantResult]]:
    """Plan then apply each demo job in one tenant; the plan row and the apply row."""
    rows: list[tuple[str, TenantResult]] = []
    for job, params in demo_jobs(tenant):
        for mode in ("plan", "apply"):
            result = await run_tenant_job(
                pool, tenant_id=tenant.tenant_id, job=job, mode=mode, params=params
            )
            rows.append((tenant.name, result))
    return rows


def expectation_met(tenant: TenantSpec, results: Sequence[TenantResult]) -> bool:
    if tenant.expect == "ok":
        return all(r.status in OK_STATUSES for r in results)
    return all(r.error is not None and r.error.error_class == tenant.expect for r in results)


def print_table(rows: Sequence[tuple[str, TenantResult]]) -> None:
    header = ("tenant", "job", "mode", "planned", "applied", "status", "error class")
    lines = [header] + [
        (
            name,
            r.job,
            r.mode.value,
            str(r.changes_planned),
            str(r.changes_applied),
            r.status.value,
            r.error.error_class if r.error else "-",
        )
        for name, r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def print_remediations(rows: Sequence[tuple[str, TenantResult]]) -> None:
    seen: set[tuple[str, str]] = set()
    print("\nWhat to do about the failures:")
    for name, r in rows:
        if r.error is None or (name, r.error.error_class) in seen:
            continue
        seen.add((name, r.error.error_class))
        print(f"- {name} [{r.error.error_class}] {r.error.message}\n    -> {r.error.remediation}")


async def run(scenario: Scenario, cloud: FakeCloud) -> int:
    settings = Settings.from_env()
    credentials = TenantCredentials(settings)
    pool = GraphPool(settings, credentials)
    started = time.monotonic()
    try:
        per_tenant = await asyncio.gather(*(run_tenant(pool, t) for t in scenario.tenants))
    finally:
        await pool.close()
        await credentials.close()
    elapsed = time.monotonic() - started
    rows = [row for rows in per_tenant for row in rows]
    print_table(rows)
    print_remediations(rows)
    counters = cloud.counters()
    print(
        f"\n{len(scenario.tenants)} tenants in {elapsed:.1f}s: "
        f"{counters.get('msi.requests', 0)} managed identity request(s), "
        f"{counters.get('token.requests', 0)} token requests, "
        f"{counters.get('graph.requests', 0)} Graph requests, "
        f"{counters.get('graph.early_retries', 0)} early retries"
    )
    missed = [
        t.name
        for t, tenant_rows in zip(scenario.tenants, per_tenant, strict=True)
        if not expectation_met(t, [r for _, r in tenant_rows])
    ]
    if missed:
        print(f"UNEXPECTED outcome for: {', '.join(missed)}")
        return 1
    print("Every tenant got the outcome its scenario expects.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    # azure-identity logs each refused token request with Entra's whole answer; the table
    # below reports the same failure once, typed, with its remediation.
    logging.getLogger("azure").setLevel(logging.CRITICAL)
    scenario = load_scenario(Path(args[0]) if args else DEMO_SCENARIO)
    with tempfile.TemporaryDirectory(prefix="xtenant-demo-") as workdir:
        cloud = FakeCloud(scenario, workdir=Path(workdir))
        with cloud:
            os.environ.update(cloud.app_env())
            print(f"fake cloud up: login {cloud.authority_url}, graph {cloud.graph_url}\n")
            return asyncio.run(run(scenario, cloud))


if __name__ == "__main__":
    raise SystemExit(main())
