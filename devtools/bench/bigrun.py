"""`make bench-big`: one 10,000-tenant run (one job) through the worker path on Azurite.

What it shows: the run completes, the worker process's peak RSS stays bounded (the target is
300 MB), and `GET /api/runs/{id}` for that run answers in under a second (its run-view code,
timed here against the same Azurite). Tenants hold few users each (`GUESTS`), so the fake
cloud's memory stays small: the figure of interest is the app's, per tenant, not per user.

    python -m devtools.bench.bigrun [--n 10000] [--c 32] [--latency-ms 25]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from devtools.azurite import Azurite, ensure_installed
from devtools.bench.cloud import CloudProcess
from devtools.bench.run import ROOT, run_phase
from devtools.bench.scenario import write_scenario

GUESTS = 3


async def time_run_view(connection: str, run_id: str) -> dict[str, Any]:
    """GET /api/runs/{id}'s reading of the run (totals from every row, one page of rows)."""
    from azure.data.tables.aio import TableClient

    from shared.ledger import TABLE
    from shared.run_views import RunViews

    async with TableClient.from_connection_string(connection, TABLE) as table:
        views = RunViews(table)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            run = await views.get_run(run_id)
            timings.append(time.perf_counter() - started)
    assert run is not None
    return {"seconds": timings, "rows_total": run["rows_total"], "totals": run["totals"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench.bigrun", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--c", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=25)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xtenant-bigrun-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        sets = write_scenario(work / "scenario.json", {"big": args.n + 1}, guests={"big": GUESTS})
        print(f"fake cloud: {sets.total} tenants x {GUESTS} guests", flush=True)
        cloud = stack.enter_context(
            CloudProcess(work / "scenario.json", latency_ms=args.latency_ms, workdir=work)
        )
        azurite = stack.enter_context(Azurite(ensure_installed(ROOT)))
        env = {**cloud.env, "AzureWebJobsStorage": azurite.connection_string}
        phase = run_phase(
            "xtenant-azurite", sets["big"], cloud, env, concurrency=args.c, workdir=str(work)
        )
        view = asyncio.run(time_run_view(azurite.connection_string, phase.extra["run_id"]))
    _print(args, phase, view, time.perf_counter() - started)
    return 0


def _print(args: argparse.Namespace, phase: Any, view: dict[str, Any], total_s: float) -> None:
    print(f"\n{args.n:,} tenants, one job (guest-cleanup, apply), C={args.c}, Azurite ledger")
    print(f"  wall {phase.wall_s:.1f} s ({args.n / phase.wall_s:.1f} tenants/s)")
    print(f"  rows by status {phase.extra['statuses']}")
    print(f"  Table calls per (tenant, job) {phase.extra['table_calls'] / args.n:.2f}")
    print(f"  worker process peak RSS {phase.peak_rss_mb:.0f} MB (target <= 300 MB)")
    slowest = max(view["seconds"])
    print(
        f"  GET /api/runs/{{id}} run view: {', '.join(f'{s:.2f}' for s in view['seconds'])} s "
        f"(slowest {slowest:.2f} s, target < 1 s) for {view['rows_total']:,} rows"
    )
    print(f"  whole benchmark {total_s:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
