"""`make bench-scaling`: tenants per second and efficiency against C, for N = 100 and 1000.

Each point gets a fresh fake cloud (its own process) and three fresh client processes: the bare
httpx client (for f at that N and C), the bare aiohttp client (the tighter floor) and xtenant's
worker path with the ledger in memory (the headline variant). Writes
bench/results/scaling-*.json, docs/benchmarks.png, and the table into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.bench import docs, report
from devtools.bench.cloud import CloudProcess
from devtools.bench.run import HEADLINE, RESULTS, machine, run_phase
from devtools.bench.scenario import write_scenario

CONCURRENCY = (1, 8, 32, 64)
TENANTS = (100, 1000)
BARE_AT_C1 = 200


def run_point(n: int, concurrency: int, latency_ms: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="xtenant-scaling-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        # at C=1 the latency bound is far above any CPU floor: f from fewer tenants will do
        bare_n = n if concurrency > 1 else min(n, BARE_AT_C1)
        sizes = {"bare": bare_n + 1, "bare-aiohttp": bare_n + 1, HEADLINE: n + 1}
        sets = write_scenario(work / "scenario.json", sizes)
        cloud = stack.enter_context(
            CloudProcess(work / "scenario.json", latency_ms=latency_ms, workdir=work)
        )
        env = {**cloud.env, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
        common = {"concurrency": concurrency, "workdir": str(work)}
        bare = run_phase("bare", sets["bare"], cloud, env, **common)
        floor = run_phase("bare-aiohttp", sets["bare-aiohttp"], cloud, env, **common)
        measured = run_phase(HEADLINE, sets[HEADLINE], cloud, env, **common)
    bound = report.limit(
        measured, bare, concurrency=concurrency, latency_ms=latency_ms, aiohttp_floor=floor
    )
    figures = report.figures(measured)
    return {
        "n": n,
        "concurrency": concurrency,
        "tenants_per_s": figures["tenants_per_s"],
        "wall_s": measured.wall_s,
        "cpu_ms_per_request": figures["cpu_ms_per_request"],
        "fake_cloud_cpu_ms_per_request": figures["fake_cloud_cpu_ms_per_request"],
        "peak_rss_mb": measured.peak_rss_mb,
        **bound,
    }


def run_scaling(*, latency_ms: int) -> dict[str, Any]:
    started = time.perf_counter()
    points = []
    for n in TENANTS:
        for concurrency in CONCURRENCY:
            print(f"N={n} C={concurrency}", flush=True)
            point = run_point(n, concurrency, latency_ms)
            print(
                f"  {point['tenants_per_s']:.1f} tenants/s, efficiency {point['efficiency']:.2f}",
                flush=True,
            )
            points.append(point)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "latency_ms": latency_ms,
        "machine": machine(),
        "points": points,
        "duration_s": time.perf_counter() - started,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = str(result["when"]).replace(":", "").replace("-", "")
    (RESULTS / f"scaling-{stamp}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    docs.write_scaling(result)
    print(f"scaling grid took {result['duration_s']:.0f} s; docs/benchmarks.md and .png written")
    return result
