"""`python -m devtools.chaos [--tenants 200] [--short] [--workdir .xtenant/chaos]`.

Runs the chaos suite (`make chaos`), prints what happened and the figures, and exits 0 when
every figure is 0, else 1. `--short` is the form `make test` runs (30 tenants unless
`--tenants` says otherwise). The workers' logs and Azurite's data stay in the work directory
(emptied first) for reading afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
from pathlib import Path
from types import FrameType

from devtools.azurite import repo_root
from devtools.chaos.config import ChaosConfig
from devtools.chaos.run import run_chaos


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.chaos", description=__doc__)
    parser.add_argument("--tenants", type=int, help="how many tenants (full 200, short 30)")
    parser.add_argument("--short", action="store_true", help="the short form `make test` runs")
    parser.add_argument("--workdir", type=Path, default=repo_root() / ".xtenant" / "chaos")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    # SIGTERM stops the suite as Ctrl-C does: workers, Azurite and the fake cloud stop too.
    signal.signal(signal.SIGTERM, _interrupt)
    form = ChaosConfig.short if arguments.short else ChaosConfig.full
    config = form(arguments.tenants) if arguments.tenants else form()
    shutil.rmtree(arguments.workdir, ignore_errors=True)
    arguments.workdir.mkdir(parents=True)
    report = asyncio.run(run_chaos(config, arguments.workdir))
    print()
    print(report.text(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
