"""Azurite, the real Azure Storage emulator, installed with npm and run on loopback.

`ensure_installed(root)` puts azurite@3.35.0 under `<root>/.xtenant/node` once (3.36+ needs
Node 22; this project's machines have Node 20). `Azurite` runs it in memory on 127.0.0.1, on
free ports by default, and always stops it: on `stop()`, at the end of a `with` block (also on
an exception or Ctrl-C) and, as a last resort, when the interpreter exits. With `location`, it
keeps its data in that folder instead: stopped (SIGTERM, Azurite saves on the way out) and
started again, it serves the same queues and tables on the same ports, as a storage account
comes back after an outage.

`python -m devtools.azurite [--standard-ports]` runs it in the foreground, prints the endpoints
and the connection string's shape, then exactly `azurite ready`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

# The emulator's account and key are public, fixed and the same on every machine (Azurite docs,
# "Connection strings"). We take the key from the storage SDK rather than spelling it here.
from azure.storage.queue._shared.parser import DEVSTORE_ACCOUNT_KEY, DEVSTORE_ACCOUNT_NAME

AZURITE_VERSION = "3.35.0"
HOST = "127.0.0.1"
SERVICES = ("blob", "queue", "table")


class AzuriteError(RuntimeError):
    """Azurite could not be installed, did not come up, or died."""


@dataclass(frozen=True)
class Ports:
    blob: int
    queue: int
    table: int

    def of(self, service: str) -> int:
        port: int = getattr(self, service)
        return port


STANDARD_PORTS = Ports(blob=10000, queue=10001, table=10002)


def node_prefix(root: Path) -> Path:
    """Where npm installs Azurite for this checkout (ignored by git, removed by `make clean`)."""
    return root / ".xtenant" / "node"


def installed_version(prefix: Path) -> str | None:
    manifest = prefix / "node_modules" / "azurite" / "package.json"
    try:
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return version if isinstance(version, str) else None


def ensure_installed(root: Path) -> Path:
    """Install azurite@AZURITE_VERSION under `root` unless it is there; the `azurite` bin path.

    A file lock keeps two processes (a test run and `make demo`) from installing at once.
    """
    prefix = node_prefix(root)
    executable = prefix / "node_modules" / ".bin" / "azurite"
    prefix.mkdir(parents=True, exist_ok=True)
    with _locked(prefix / ".install.lock"):
        if installed_version(prefix) == AZURITE_VERSION and executable.exists():
            return executable
        _npm_install(prefix)
    if not executable.exists():
        raise AzuriteError(f"npm installed azurite but {executable} is missing")
    return executable


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _npm_install(prefix: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise AzuriteError("npm is not on PATH: install Node.js 20 and npm to run Azurite")
    print(f"installing azurite@{AZURITE_VERSION} into {prefix} (about 30 s)", flush=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    command.append(f"azurite@{AZURITE_VERSION}")
    # S603: a fixed argument list (npm from PATH, our own prefix), no shell.
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise AzuriteError(f"npm install azurite failed ({done.returncode}): {_tail(done.stderr)}")


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the OS reports free on 127.0.0.1 right now.

    All sockets stay open until every port is chosen, so the OS cannot hand out one twice.
    Another process may still take one before Azurite binds: `start()` then fails clearly.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


class Azurite:
    """One Azurite process: blob, queue and table services on 127.0.0.1, in memory (or on disk
    in `location`). Ports are chosen at the first start and kept by later ones."""

    def __init__(
        self,
        executable: Path,
        *,
        standard_ports: bool = False,
        location: Path | None = None,
        startup_timeout_s: float = 30.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self._executable = executable
        self._standard_ports = standard_ports
        self._location = location
        self._startup_timeout_s = startup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._ports: Ports | None = None

    def start(self) -> None:
        """Start Azurite and return once all three services accept connections."""
        if self._process is not None:
            raise AzuriteError("Azurite is already running")
        if self._ports is None:
            self._ports = STANDARD_PORTS if self._standard_ports else Ports(*free_ports(3))
        if self._location is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(  # noqa: S603 - our installed bin, fixed arguments
            self._command(self._ports),
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            cwd=self._location or (self._workdir.name if self._workdir else None),
        )
        atexit.register(self.stop)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _command(self, ports: Ports) -> list[str]:
        command = [str(self._executable), "--silent"]
        if self._location is None:
            command.append("--inMemoryPersistence")
        else:
            command += ["--location", str(self._location)]
        command += ["--skipApiVersionCheck", "--disableTelemetry"]
        for service in SERVICES:
            command += [f"--{service}Host", HOST, f"--{service}Port", str(ports.of(service))]
        return command

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout_s
        waiting = list(SERVICES)
        while waiting:
            if self._live_process().poll() is not None:
                raise AzuriteError(f"Azurite exited during start: {self._output_tail()}")
            waiting = [s for s in waiting if not _accepts(self.ports.of(s))]
            if waiting and time.monotonic() > deadline:
                raise AzuriteError(
                    f"Azurite did not open {', '.join(waiting)} within "
                    f"{self._startup_timeout_s:.0f} s: {self._output_tail()}"
                )
            if waiting:
                time.sleep(0.05)  # polling a child process's ports: nothing to wait on

    def stop(self) -> None:
        """Stop Azurite: SIGTERM, then SIGKILL after `stop_timeout_s`. Safe to call twice.

        Data in memory is gone; data in `location` stays for the next `start()`.
        """
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ports(self) -> Ports:
        if self._ports is None:
            raise AzuriteError("Azurite has not been started")
        return self._ports

    @property
    def pid(self) -> int | None:
        """The Azurite process id while it runs, else None."""
        return self._process.pid if self._process is not None else None

    def endpoint(self, service: str) -> str:
        """`http://127.0.0.1:<port>/devstoreaccount1` for blob, queue or table."""
        return f"http://{HOST}:{self.ports.of(service)}/{DEVSTORE_ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """The dev-account connection string with this instance's ports, as the SDKs accept it."""
        parts = [
            "DefaultEndpointsProtocol=http",
            f"AccountName={DEVSTORE_ACCOUNT_NAME}",
            f"AccountKey={DEVSTORE_ACCOUNT_KEY}",
            *(f"{s.capitalize()}Endpoint={self.endpoint(s)}" for s in SERVICES),
        ]
        return ";".join(parts) + ";"

    def _live_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise AzuriteError("Azurite has not been started")
        return self._process

    def _output_tail(self) -> str:
        if self._output is None:
            return "(no output)"
        self._output.seek(0)
        return _tail(self._output.read().decode("utf-8", "replace")) or "(no output)"


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
        return True
    return False


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.azurite", description=__doc__)
    parser.add_argument(
        "--standard-ports",
        action="store_true",
        help="use 10000-10002 (then UseDevelopmentStorage=true works too)",
    )
    return parser.parse_args(argv)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        executable = ensure_installed(repo_root())
        with Azurite(executable, standard_ports=arguments.standard_ports) as azurite:
            for service in SERVICES:
                print(f"{service:<6} {azurite.endpoint(service)}")
            print(f"account {DEVSTORE_ACCOUNT_NAME} (the public emulator key)")
            print("azurite ready", flush=True)
            signal.pause()
    except AzuriteError as error:
        print(f"azurite: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
