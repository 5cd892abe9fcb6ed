"""`python -m devtools.bench.importcost [--runs N]`: what `import function_app` costs with
telemetry off and on, each import in a fresh process (`devtools.bench.coldstart import`).

On, APPLICATIONINSIGHTS_CONNECTION_STRING is set, so the import configures the Azure Monitor
distro, its exporters and the managed identity credential as on Azure. Nothing is sent, and
nothing could leave this machine: the ingestion and identity endpoints are 127.0.0.1:1, where
nothing listens, and the exporter's own calls home are off (shared/telemetry QUIET). Off and on
alternate, so both see the same machine. The target (issue 15): at most 0.8 s on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any

from devtools.bench.coldstart import RESULT_PREFIX
from devtools.bench.run import ROOT

TARGET_S = 0.8
#: Telemetry on: every endpoint on a loopback port where nothing listens.
ON = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-"
    "000000000000;IngestionEndpoint=https://127.0.0.1:1/",
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
    "XTENANT_AUTH_MODE": "managed_identity",
    "IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token",
    "IDENTITY_HEADER": "bench",
    "XTENANT_TELEMETRY": "auto",
}
OFF = {"XTENANT_TELEMETRY": "off"}


def import_once(settings: dict[str, str]) -> dict[str, Any]:
    """One `import function_app` in a fresh process with these settings."""
    env = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    done = subprocess.run(
        [sys.executable, "-m", "devtools.bench.coldstart", "import"],
        env=env | settings,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"import failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return result


def line(label: str, runs: list[dict[str, Any]]) -> str:
    seconds = [r["import_s"] for r in runs]
    where = ", ".join(sorted({r["telemetry"] for r in runs}))
    last = runs[-1]
    return (
        f"  telemetry {label:<4} ({where}): median {statistics.median(seconds):.2f} s "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f}), {last['modules']} modules, "
        f"peak RSS {last['peak_rss_mb']:.0f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench.importcost")
    parser.add_argument("--runs", type=int, default=7, help="imports of each kind (default 7)")
    runs = parser.parse_args(argv).runs
    off: list[dict[str, Any]] = []
    on: list[dict[str, Any]] = []
    for _ in range(runs):
        off.append(import_once(OFF))
        on.append(import_once(ON))
    median_on = statistics.median(r["import_s"] for r in on)
    print(f"import function_app, {runs} fresh processes each, {os.cpu_count()} cores:")
    print(line("off", off))
    print(line("on", on))
    verdict = "met" if median_on <= TARGET_S else "NOT met"
    print(f"  target: at most {TARGET_S:.1f} s with telemetry on (median): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
