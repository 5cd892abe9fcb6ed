"""`python -m devtools.fakecloud --scenario FILE [--workdir DIR] [--latency-ms N] [--preload]
[--clock-offset-s S]`.

Prints the URLs and the app's environment as KEY=value lines, then exactly `fakecloud ready`;
serves until SIGINT or SIGTERM. IDENTITY_HEADER is a random per-run value, printed only in the
environment block, for a locally started app to use.

`--latency-ms` delays every token and Graph request (a `$batch` once, not once per item);
`--preload` builds every tenant's Graph directory before `fakecloud ready` instead of on its
first request (the benchmark keeps that work out of what it measures); `--clock-offset-s` runs
the fake cloud's clock S seconds ahead of this machine's (tokens it issues and checks).
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
        "--latency-ms", type=int, default=0, help="add this latency to every token/Graph request"
    )
    parser.add_argument(
        "--preload", action="store_true", help="build every tenant's directory before ready"
    )
    parser.add_argument(
        "--clock-offset-s", type=float, default=0.0, help="seconds the fake's clock runs ahead"
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


def _add_latency(cloud: FakeCloud, latency_ms: int) -> None:
    for service in ("token", "graph"):
        cloud.add_fault(
            Fault(service=service, kind="latency", latency_ms=latency_ms, batch_items=False)
        )


def _preload(cloud: FakeCloud) -> None:
    for tenant in cloud.scenario.tenants:
        cloud.directory(tenant.tenant_id).users()


async def _serve(cloud: FakeCloud, latency_ms: int, preload: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await cloud.start_async()
    try:
        if latency_ms > 0:
            _add_latency(cloud, latency_ms)
        if preload:
            _preload(cloud)
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
        cloud = FakeCloud(
            scenario,
            workdir=args.workdir or Path(default_workdir),
            clock_offset_s=args.clock_offset_s,
        )
        asyncio.run(_serve(cloud, args.latency_ms, args.preload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
