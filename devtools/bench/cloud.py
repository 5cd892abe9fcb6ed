"""The fake cloud in a process of its own, so it never shares the measured client's GIL.

`CloudProcess` runs `python -m devtools.fakecloud --scenario FILE --latency-ms L`, reads the
environment it prints (KEY=value lines up to `fakecloud ready`), reads its counters from the
control API (`GET /_fake/counters`) and its CPU time from /proc, and always stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx

_READY = "fakecloud ready"
_START_TIMEOUT_S = 120.0


class CloudError(RuntimeError):
    """The fake cloud did not come up."""


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class CloudProcess:
    def __init__(self, scenario: Path, *, latency_ms: int, workdir: Path) -> None:
        self._command = [
            sys.executable,
            "-m",
            "devtools.fakecloud",
            "--scenario",
            str(scenario),
            "--workdir",
            str(workdir),
            "--latency-ms",
            str(latency_ms),
            "--preload",
        ]
        self._process: subprocess.Popen[str] | None = None
        self.env: dict[str, str] = {}

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            self._command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        seen: list[str] = []
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.rstrip("\n")
            seen.append(line)
            if line == _READY:
                # keep draining its output, or a full pipe would stall the server mid-run
                threading.Thread(target=self._drain, daemon=True).start()
                return
            key, sep, value = line.partition("=")
            if sep and key and " " not in key:
                self.env[key] = value
            if time.monotonic() > deadline:
                break
        self.stop()
        raise CloudError("fakecloud did not start:\n" + "\n".join(seen[-20:]))

    def _drain(self) -> None:
        process = self._process
        if process is not None and process.stdout is not None:
            for _ in process.stdout:
                pass

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    def counters(self) -> dict[str, int]:
        """The fake's request counters (msi.requests, token.requests, graph.requests, ...)."""
        url = f"{self.env['AZURE_AUTHORITY_HOST']}/_fake/counters"
        response = httpx.get(url, verify=self.env["SSL_CERT_FILE"], timeout=30)
        response.raise_for_status()
        return {str(k): int(v) for k, v in response.json().items()}

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> CloudProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
