"""One measured phase in a fresh process: `python -m devtools.bench.child < spec.json`.

A fresh process per phase, so each phase's peak RSS and CPU are its own and the fake cloud
(another process) never shares its GIL. The spec names the phase, the environment that points
the app at the fake cloud, the tenants and the concurrency; the last stdout line is
`RESULT <json>` (a PhaseResult with the fake cloud's counter deltas over the phase).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from devtools.bench.cloud import process_cpu_s
from devtools.bench.probe import PhaseResult

RESULT_PREFIX = "RESULT "


def fake_counters(env: dict[str, str]) -> dict[str, int]:
    url = f"{env['AZURE_AUTHORITY_HOST']}/_fake/counters"
    response = httpx.get(url, verify=env["SSL_CERT_FILE"], timeout=30)
    return {str(k): int(v) for k, v in response.raise_for_status().json().items()}


class CounterWindow:
    """The fake cloud's counters at the start, after the warm-up tenant and at the end."""

    def __init__(self, env: dict[str, str], cloud_pid: int | None) -> None:
        self.env = env
        self.cloud_pid = cloud_pid
        self.marks: dict[str, dict[str, int]] = {}
        self.cloud_cpu: dict[str, float] = {}
        self.mark("start")

    def mark(self, name: str) -> None:
        self.marks[name] = fake_counters(self.env)
        if self.cloud_pid is not None:
            self.cloud_cpu[name] = process_cpu_s(self.cloud_pid)

    def between(self, first: str, last: str) -> dict[str, int]:
        before, after = self.marks[first], self.marks[last]
        return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def run_phase(spec: dict[str, Any], window: CounterWindow) -> PhaseResult:
    phase = spec["phase"]
    tenants = list(spec["tenants"])
    warmup = str(spec["warmup"])
    concurrency = int(spec.get("concurrency", 1))
    workdir = Path(spec["workdir"])
    if phase in ("xtenant-memory", "xtenant-azurite"):
        from devtools.bench.xtenant import run_xtenant

        storage = phase.split("-", 1)[1]
        return await run_xtenant(
            tenants,
            concurrency,
            warmup=warmup,
            storage=storage,
            workdir=workdir,
            mark=window.mark,
            big_page_tenant=spec.get("big_page_tenant"),
        )
    if phase in ("bare", "bare-aiohttp"):
        from devtools.bench.bare import run_bare

        kind = "aiohttp" if phase == "bare-aiohttp" else "httpx"
        return await run_bare(
            os.environ, tenants, concurrency, warmup=warmup, mark=window.mark, client_kind=kind
        )
    if phase == "naive":
        from devtools.bench.naive import run_naive

        return await run_naive(tenants, warmup=warmup, workdir=workdir, mark=window.mark)
    raise SystemExit(f"unknown phase {phase!r}")


def main() -> int:
    spec = json.load(sys.stdin)
    env = {str(k): str(v) for k, v in spec["env"].items()}
    os.environ.update(env)  # before the app's modules read their settings
    window = CounterWindow(env, spec.get("cloud_pid"))
    result = asyncio.run(run_phase(spec, window))
    result.counters = window.between("warm", "end")
    result.extra["process_counters"] = window.between("start", "end")
    if window.cloud_cpu:
        result.extra["fake_cloud_cpu_s"] = window.cloud_cpu["end"] - window.cloud_cpu["warm"]
    print(RESULT_PREFIX + json.dumps(result.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
