"""One chaos run: stage up, tenants registered, the scheduled run shaken, figures taken."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devtools.chaos import report
from devtools.chaos.client import AppClient
from devtools.chaos.config import ChaosConfig
from devtools.chaos.stage import ChaosStage
from devtools.chaos.tenants import ChaosTenant, chaos_tenants
from devtools.chaos.timeline import settle, shake
from devtools.fakecloud.server import FakeCloud

_REGISTER_CONCURRENCY = 16


async def run_chaos(
    config: ChaosConfig, workdir: Path, *, say: Callable[[str], None] = print
) -> report.ChaosReport:
    """Run the suite in `workdir` (the workers' logs stay there); the figures, every one 0 when
    the app held."""
    began = time.monotonic()
    tenants = chaos_tenants(config.tenants)
    async with ChaosStage(config, tenants, workdir) as stage:
        say(
            f"stage up in {time.monotonic() - began:.1f} s: Azurite on disk, the fake cloud "
            f"{config.clock_offset_s:g} s ahead, {config.workers} workers delivering every "
            f"message twice (logs in {workdir})"
        )
        await register(stage.client, tenants)
        timeline = await shake(stage, config, tenants, say)
        run = await settle(stage.client, timeline, config.settle_s)
        registry = await stage.client.tenants()
        figures = _figures(run, registry, tenants, stage.cloud)
    return report.ChaosReport(
        run_id=timeline.run_id,
        tenants=len(tenants),
        rows=len(run["rows"]),
        totals=dict(Counter(r["status"] for r in run["rows"])),
        events=[
            *timeline.events,
            f"every message delivered twice; fake cloud clock {config.clock_offset_s:+g} s",
        ],
        figures=figures,
        wall_s=time.monotonic() - began,
        run_s=timeline.settled - timeline.started,
        notes=[report.tenant_fault_health(registry, tenants)],
    )


async def register(client: AppClient, tenants: list[ChaosTenant]) -> None:
    """PUT every tenant with its enrolments, a few at once."""
    gate = asyncio.Semaphore(_REGISTER_CONCURRENCY)

    async def put(tenant: ChaosTenant) -> None:
        async with gate:
            await client.put_tenant(tenant.tenant_id, tenant.registration())

    await asyncio.gather(*(put(t) for t in tenants))


def _figures(
    run: dict[str, Any],
    registry: list[dict[str, Any]],
    tenants: list[ChaosTenant],
    cloud: FakeCloud,
) -> list[report.Figure]:
    name = report.Names(tenants)
    counters, requests = cloud.counters(), cloud.requests()
    return [
        report.rows_not_final(run, tenants, name),
        report.duplicate_writes(cloud.writes(), name),
        report.early_retries("graph", counters, requests, name),
        report.early_retries("token", counters, requests, name),
        report.fault_free_not_healthy(registry, tenants, name),
        report.failures_unexplained(run, name),
    ]
