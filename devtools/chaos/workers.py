"""Worker processes: `python -m devtools.devhost` running function_app, as separate processes
on one queue, each delivering every message twice, killable with SIGKILL.

Each worker's output (its log) goes to `<workdir>/<name>.log`; the address it serves HTTP on is
read from its `listening on` line, and it is ready at `devhost ready`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from devtools.azurite import repo_root

_READY = "devhost ready"
_LISTENING = "listening on "
_START_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 5.0


class WorkerError(RuntimeError):
    """A worker did not start."""


class WorkerProcess:
    def __init__(
        self,
        name: str,
        *,
        settings: Mapping[str, str],
        host_json: Path,
        function_key: str,
        log_path: Path,
    ) -> None:
        self.name = name
        self._settings = dict(settings)
        self._host_json = host_json
        self._function_key = function_key
        self._log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._copy: asyncio.Task[None] | None = None
        self.base_url = ""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the process and return once it serves; WorkerError with its log's tail if not."""
        command = ["-m", "devtools.devhost", "--app", "function_app", "--port", "0"]
        command += ["--host-json", str(self._host_json), "--deliver-twice"]
        command += ["--function-key", self._function_key, "--settings", str(self._settings_file())]
        # The environment beats the settings file (as with Core Tools): leave out what the
        # caller's environment says about the same settings (a test session's fake cloud, say).
        environment = {k: v for k, v in os.environ.items() if k not in self._settings}
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            cwd=repo_root(),
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        ready = asyncio.get_running_loop().create_future()
        self._copy = asyncio.create_task(self._copy_output(ready))
        try:
            async with asyncio.timeout(_START_TIMEOUT_S):
                await ready
        except (TimeoutError, WorkerError):
            await self.stop()
            raise WorkerError(f"{self.name} did not start:\n{self._log_tail()}") from None

    def _settings_file(self) -> Path:
        path = self._log_path.with_suffix(".settings.json")
        path.write_text(json.dumps({"Values": self._settings}), encoding="utf-8")
        return path

    async def _copy_output(self, ready: asyncio.Future[None]) -> None:
        """Copy the worker's output into its log; resolve `ready` at `devhost ready`."""
        assert self._process is not None
        output = self._process.stdout
        assert output is not None
        with self._log_path.open("ab") as log:
            async for raw in output:
                log.write(raw)
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith(_LISTENING):
                    self.base_url = line[len(_LISTENING) :]
                elif line == _READY and not ready.done():
                    log.flush()
                    ready.set_result(None)
        if not ready.done():
            ready.set_exception(WorkerError("exited before it was ready"))

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup; whatever it was doing stops mid-way."""
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        await self.stop()

    async def stop(self) -> None:
        """SIGTERM (the host finishes what runs, briefly), then SIGKILL; safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._copy is not None:
            with contextlib.suppress(Exception):
                await self._copy
            self._copy = None

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"
