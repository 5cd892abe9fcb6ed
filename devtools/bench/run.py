"""`make bench`: every phase of one benchmark run, against one fake cloud, side by side.

Processes: the fake cloud (its own process, latency injected), Azurite (for the variant with
ledger writes), and one fresh child process per measured phase (devtools/bench/child.py):
bare httpx, xtenant with the ledger in memory, xtenant with the ledger on Azurite, the naive
baseline; then cold start (coldstart.py). Every phase gets tenants of its own.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.bench import report
from devtools.bench.cloud import CloudProcess
from devtools.bench.probe import PhaseResult
from devtools.bench.scenario import write_scenario

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
#: the phase whose figures are the headline (docs/benchmarks.md says why)
HEADLINE = "xtenant-memory"
#: one tenant with a full page of guests, read to show the per-request cost amortised
BIG_PAGE = "read-999"
BIG_PAGE_GUESTS = 999
#: a phase that has not finished by then is a hung run: stop it rather than wait forever
_PHASE_TIMEOUT_S = 1800
RESULT_PREFIX = "RESULT "


@dataclass(frozen=True)
class BenchConfig:
    n: int = 200
    concurrency: int = 32
    latency_ms: int = 25
    naive_n: int = 10
    azurite: bool = True
    coldstart: bool = True
    naive: bool = True


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def run_child(module: str, spec: dict[str, Any], *args: str) -> dict[str, Any]:
    """Run `python -m module args` with `spec` on stdin; its `RESULT <json>` line, parsed."""
    done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", module, *args],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=_PHASE_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise RuntimeError(f"{module} {' '.join(args)} failed ({done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return result


def run_phase(
    phase: str, tenants: tuple[str, ...], cloud: CloudProcess, env: dict[str, str], **spec: Any
) -> PhaseResult:
    full = {
        "phase": phase,
        "env": env,
        "warmup": tenants[0],
        "tenants": list(tenants[1:]),
        "cloud_pid": cloud.pid,
        **spec,
    }
    print(f"  {phase}: {len(tenants) - 1} tenants ...", flush=True)
    return PhaseResult.from_dict(run_child("devtools.bench.child", full))


def coldstart(env: dict[str, str], tenant_id: str) -> dict[str, Any]:
    """`import function_app` alone, then import + first tenant job, each in a fresh process."""
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    figures["import"] = run_child("devtools.bench.coldstart", {}, "import")
    figures["import"]["process_wall_s"] = time.perf_counter() - started
    spec = {"env": env, "tenant_id": tenant_id, "run_id": "coldstart-run"}
    started = time.perf_counter()
    figures["first_job"] = run_child("devtools.bench.coldstart", spec, "first-job")
    figures["first_job"]["process_wall_s"] = time.perf_counter() - started
    return figures


def _sizes(config: BenchConfig) -> dict[str, int]:
    sizes = {"bare": config.n + 1, "bare-aiohttp": config.n + 1, "xtenant-memory": config.n + 1}
    if config.azurite:
        sizes["xtenant-azurite"] = config.n + 1
    if config.naive:
        sizes["naive"] = config.naive_n + 1
    sizes["coldstart"] = 1
    sizes[BIG_PAGE] = 1
    return sizes


def _storage(stack: ExitStack, config: BenchConfig) -> str:
    if not config.azurite:
        return "UseDevelopmentStorage=true"  # the memory ledger never connects
    from devtools.azurite import Azurite, ensure_installed

    return stack.enter_context(Azurite(ensure_installed(ROOT))).connection_string


def run_bench(config: BenchConfig) -> dict[str, Any]:
    started = time.perf_counter()
    phases: dict[str, PhaseResult] = {}
    with tempfile.TemporaryDirectory(prefix="xtenant-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        sets = write_scenario(
            work / "scenario.json", _sizes(config), guests={BIG_PAGE: BIG_PAGE_GUESTS}
        )
        print(f"fake cloud: {sets.total} tenants, {config.latency_ms} ms latency", flush=True)
        cloud = stack.enter_context(
            CloudProcess(work / "scenario.json", latency_ms=config.latency_ms, workdir=work)
        )
        env = {**cloud.env, "AzureWebJobsStorage": _storage(stack, config)}
        common = {
            "concurrency": config.concurrency,
            "workdir": str(work),
            "big_page_tenant": sets[BIG_PAGE][0],
        }
        for phase in _sizes(config):
            if phase not in ("coldstart", BIG_PAGE):
                phases[phase] = run_phase(phase, sets[phase], cloud, env, **common)
        cold = coldstart(env, sets["coldstart"][0]) if config.coldstart else {}
    return assemble(config, phases, cold, time.perf_counter() - started)


def assemble(
    config: BenchConfig, phases: dict[str, PhaseResult], cold: dict[str, Any], duration_s: float
) -> dict[str, Any]:
    figures = {name: report.figures(phase) for name, phase in phases.items()}
    limits = {
        name: report.limit(
            phase,
            phases["bare"],
            concurrency=config.concurrency,
            latency_ms=config.latency_ms,
            aiohttp_floor=phases.get("bare-aiohttp"),
        )
        for name, phase in phases.items()
        if name.startswith("xtenant")
    }
    naive = figures.get("naive", {}).get("tenants_per_s")
    ratios = {
        name: figs["tenants_per_s"] / naive
        for name, figs in figures.items()
        if name.startswith("xtenant") and naive
    }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": asdict(config),
        "machine": machine(),
        "headline": HEADLINE,
        "figures": figures,
        "limit": limits,
        "throughput_vs_naive": ratios,
        "coldstart": cold,
        "duration_s": duration_s,
        "raw": {name: phase.as_dict() for name, phase in phases.items()},
    }


def write_result(result: dict[str, Any], directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = result["config"]
    stamp = result["when"].replace(":", "").replace("-", "")
    path = directory / f"bench-{stamp}-N{config['n']}-C{config['concurrency']}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return path
