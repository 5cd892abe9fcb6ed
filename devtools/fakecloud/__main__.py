"""`python -m devtools.fakecloud --scenario FILE [--workdir DIR] [--latency-ms N]`.

Prints the URLs and the app's environment as KEY=value lines, then exactly `fakecloud ready`;
serves until SIGINT or SIGTERM. IDENTITY_HEADER is a random per-run value, printed only in the
environment block, for a locally started app to use.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path

from devtools.fakecloud.faults import Fault
from devtools.fakecloud.scenario import ScenarioError, load_scenario
from devtools.fakecloud.server import FakeCloud


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.fakecloud", description=__doc__)
    parser.add_argument("--scenario", type=Path, required=True, help="scenario JSON file")
    parser.add_argument("--workdir", type=Path, help="where the CA files go (default: a temp dir)")
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="add this latency to every token/Graph answer"
    )
    return parser.parse_args(argv)


def _announce(cloud: FakeCloud) -> None:
    lines = [
        f"authority   {cloud.authority_url}",
        f"graph       {cloud.graph_url}",
        f"msi         {cloud.identity_endpoint}",
        f"control     {cloud.authority_url}/_fake/counters",
        f"tenants     {len(cloud.scenario.tenants)}",
        "",
        *(f"{key}={value}" for key, value in cloud.app_env().items()),
        "",
        "fakecloud ready",
    ]
    print("\n".join(lines), flush=True)


async def _serve(cloud: FakeCloud, latency_ms: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await cloud.start_async()
    try:
        if latency_ms > 0:
            for service in ("token", "graph"):
                cloud.add_fault(Fault(service=service, kind="latency", latency_ms=latency_ms))
        _announce(cloud)
        await stop.wait()
    finally:
        await cloud.stop_async()
    print("fakecloud stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        scenario = load_scenario(args.scenario)
    except (OSError, ScenarioError) as exc:
        print(f"fakecloud: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fakecloud-") as default_workdir:
        cloud = FakeCloud(scenario, workdir=args.workdir or Path(default_workdir))
        asyncio.run(_serve(cloud, args.latency_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
