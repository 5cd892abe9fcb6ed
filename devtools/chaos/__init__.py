"""The chaos suite: the app run as in production while the cloud around it misbehaves, then
what must hold, as figures that must all be 0.

    report = asyncio.run(run_chaos(ChaosConfig.short(), workdir))
    print(report.text())

`python -m devtools.chaos` (`make chaos`: 200 tenants) and tests/chaos (the short form, in
`make test`). The app is driven only from outside: its HTTP API (client.py), its queue (the
workers, separate `devtools.devhost` processes) and what the fake cloud recorded. Modules:
config (sizes and durations), tenants (who misbehaves how), stage (Azurite on disk, the fake
cloud, the workers), timeline (the events), report (the figures), run (all of it in order).
"""

from devtools.chaos.config import ChaosConfig
from devtools.chaos.report import ChaosReport, Figure
from devtools.chaos.run import run_chaos

__all__ = ["ChaosConfig", "ChaosReport", "Figure", "run_chaos"]
