"""What the chaos suite runs the app on: Azurite on disk, the fake cloud, worker processes.

- Azurite keeps its data in `<workdir>/azurite`, so a stop and start loses nothing (a storage
  account's outage, not its loss).
- The fake cloud serves from a thread of this process with its clock ahead of this machine's;
  the suite steers it (faults) and reads what it recorded (requests, writes) directly.
- Workers are `python -m devtools.devhost` processes on the same queue, each delivering every
  message twice. The first one also serves the HTTP API the suite calls; it is never killed.
  host.json is the repository's with the config's queue settings and functionTimeout.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from types import TracebackType

from devtools.azurite import Azurite, ensure_installed, repo_root
from devtools.chaos.client import AppClient
from devtools.chaos.config import ChaosConfig
from devtools.chaos.tenants import ChaosTenant, chaos_scenario
from devtools.chaos.workers import WorkerProcess
from devtools.fakecloud.server import FakeCloud

#: The schedule the workers are given: it never comes during a run (the suite runs the timer
#: itself, through the host's admin endpoint).
NEVER = "0 0 0 29 2 *"


class ChaosStage:
    def __init__(self, config: ChaosConfig, tenants: list[ChaosTenant], workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.azurite = Azurite(ensure_installed(repo_root()), location=self._folder("azurite"))
        self.cloud = FakeCloud(
            chaos_scenario(tenants),
            workdir=self._folder("fakecloud"),
            clock_offset_s=config.clock_offset_s,
            # several worker processes: one cannot know of a Retry-After told to another, so
            # only a request sent again before its own Retry-After counts as early
            one_client=False,
        )
        self.workers: list[WorkerProcess] = []
        self._function_key = secrets.token_urlsafe(24)
        self._started_workers = 0
        self._client: AppClient | None = None

    def _folder(self, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def client(self) -> AppClient:
        if self._client is None:
            raise RuntimeError("the stage is not started")
        return self._client

    async def start(self) -> None:
        await asyncio.gather(
            asyncio.to_thread(self.azurite.start), asyncio.to_thread(self.cloud.start)
        )
        self.workers = [self._worker() for _ in range(self.config.workers)]
        await asyncio.gather(*(worker.start() for worker in self.workers))
        self._client = AppClient(
            self.workers[0].base_url,
            function_key=self._function_key,
            operator_token=self.cloud.operator_token(
                "chaos@contoso.example",
                ("xtenant.read", "xtenant.plan", "xtenant.apply", "xtenant.admin"),
            ),
        )

    def _worker(self) -> WorkerProcess:
        self._started_workers += 1
        name = f"worker-{self._started_workers}"
        return WorkerProcess(
            name,
            settings=self.app_settings(),
            host_json=self._host_json(),
            function_key=self._function_key,
            log_path=self.workdir / f"{name}.log",
        )

    def app_settings(self) -> dict[str, str]:
        return (
            self.cloud.app_env()
            | {
                "AzureWebJobsStorage": self.azurite.connection_string,
                "SCHEDULE": NEVER,
                "FUNCTIONS_WORKER_RUNTIME": "python",
            }
            | dict(self.config.app_settings)
        )

    def _host_json(self) -> Path:
        path = self.workdir / "host.json"
        document = json.loads((repo_root() / "host.json").read_text(encoding="utf-8"))
        document["functionTimeout"] = self.config.function_timeout
        queues = document.setdefault("extensions", {}).setdefault("queues", {})
        queues["visibilityTimeout"] = self.config.visibility_timeout
        queues["maxDequeueCount"] = self.config.max_dequeue_count
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")
        return path

    async def kill_worker(self, index: int) -> str:
        """SIGKILL one worker; its name and pid, to report."""
        worker = self.workers[index]
        pid = worker.pid
        await worker.kill()
        return f"{worker.name} (pid {pid})"

    async def replace_worker(self, index: int) -> str:
        """Start a new worker in a killed one's place; its name."""
        self.workers[index] = self._worker()
        await self.workers[index].start()
        return self.workers[index].name

    async def storage_outage(self, seconds: float) -> None:
        """Stop Azurite, wait `seconds`, start it again on the same data and ports."""
        await asyncio.to_thread(self.azurite.stop)
        await asyncio.sleep(seconds)  # the outage lasts this long: waiting for the clock is it
        await asyncio.to_thread(self.azurite.start)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        await asyncio.gather(*(worker.stop() for worker in self.workers))
        await asyncio.to_thread(self.cloud.stop)
        await asyncio.to_thread(self.azurite.stop)

    async def __aenter__(self) -> ChaosStage:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
