"""The Python 3.13 worker's environment, built once, and a worker process driven like the host.

`ensure_worker_env(root)` makes `<root>/.xtenant/worker313`: a Python 3.13 venv with the app's
requirements, the worker package (azure-functions-runtime) and protoc, and `messages/` with
worker_messages.proto compiled. Rebuilt only when requirements.txt, worker313.txt or the .proto
change (a stamp holds their hash, as the Makefile's stamp does for .venv). The first build takes
about a minute; `WorkerEnvUnavailable` says why one could not be built.

`RealWorker` runs worker_driver.py in that venv, in the app's directory, with only the app's
settings in its environment, and sends it the host's requests: init (which indexes), metadata,
load, invoke.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
PROTO = HERE / "worker_messages.proto"
DRIVER = HERE / "worker_driver.py"
WORKER_REQUIREMENTS = HERE / "worker313.txt"
# What the app needs beside the requirements: Python 3.13 takes azure-functions 2.x (1.x
# declares Requires-Python <3.13), so requirements.txt's azure-functions line is replaced.
REPLACED = "azure-functions"
INSTALL_TIMEOUT_S = 900
REPLY_TIMEOUT_S = 60.0
KEPT_ENVIRONMENT = ("PATH", "HOME", "LANG", "TMPDIR")


class WorkerEnvUnavailable(RuntimeError):
    """No Python 3.13 here, or its venv could not be built (the reason is the message)."""


@dataclass(frozen=True)
class WorkerEnv:
    python: Path
    messages: Path  # the directory holding worker_messages_pb2.py


def find_python313() -> Path:
    """XTENANT_PYTHON313, else python3.13 on PATH, else pyenv's 3.13.x."""
    candidates = [os.environ.get("XTENANT_PYTHON313", ""), shutil.which("python3.13") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    for candidate in filter(None, candidates):
        if _runs(Path(candidate)):
            return Path(candidate)
    raise WorkerEnvUnavailable("no Python 3.13 found (set XTENANT_PYTHON313 to one)")


def _runs(python: Path) -> bool:
    try:
        done = subprocess.run(
            [str(python), "-c", "import sys, venv; assert sys.version_info[:2] == (3, 13)"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


def worker_requirements(root: Path) -> list[str]:
    """requirements.txt without its azure-functions line, then worker313.txt."""
    app = (root / "requirements.txt").read_text(encoding="utf-8").splitlines()
    kept = [line for line in app if _name(line) not in ("", REPLACED)]
    worker = WORKER_REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return kept + [line for line in worker if _name(line)]


def _name(line: str) -> str:
    text = line.split("#", 1)[0].strip()
    for separator in "<>=!~[; ":
        text = text.split(separator, 1)[0]
    return text.lower()


def ensure_worker_env(root: Path) -> WorkerEnv:
    """The venv, built or rebuilt if its inputs changed; WorkerEnvUnavailable if it cannot be."""
    home = root / ".xtenant" / "worker313"
    env = WorkerEnv(python=home / "bin" / "python", messages=home / "messages")
    requirements = worker_requirements(root)
    digest = _digest(requirements)
    stamp = home / ".installed"
    home.parent.mkdir(parents=True, exist_ok=True)
    with _locked(home.parent / "worker313.lock"):
        if stamp.exists() and stamp.read_text(encoding="utf-8") == digest:
            return env
        stamp.unlink(missing_ok=True)
        _build(home, env, requirements)
        stamp.write_text(digest, encoding="utf-8")
    return env


def _digest(requirements: list[str]) -> str:
    hashed = hashlib.sha256("\n".join(requirements).encode())
    hashed.update(PROTO.read_bytes())
    return hashed.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time (two test runs on one checkout wait for each other)."""
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(home: Path, env: WorkerEnv, requirements: list[str]) -> None:
    if not env.python.exists():
        _run([str(find_python313()), "-m", "venv", str(home)], home.parent / "worker313.log")
    listed = home / "requirements.txt"
    listed.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    log = home / "install.log"
    _run([str(env.python), "-m", "pip", "install", "--quiet", "-r", str(listed)], log)
    env.messages.mkdir(exist_ok=True)
    protoc = [str(env.python), "-m", "grpc_tools.protoc", f"-I{PROTO.parent}"]
    _run([*protoc, f"--python_out={env.messages}", str(PROTO)], log)


def _run(command: list[str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as output:
        try:
            done = subprocess.run(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise WorkerEnvUnavailable(f"{command[0]}: {error}") from error
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8").strip().splitlines()[-5:]
        raise WorkerEnvUnavailable(f"{' '.join(command[:4])} failed: " + " | ".join(tail))


def worker_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """What the host gives the worker: the app's settings, nothing of this test process."""
    kept = {name: os.environ[name] for name in KEPT_ENVIRONMENT if name in os.environ}
    fixed = {"FUNCTIONS_WORKER_RUNTIME": "python", "PYTHONDONTWRITEBYTECODE": "1"}
    return {**kept, **fixed, **settings}


class RealWorker:
    """One worker process for one app; `request()` sends the host's message, returns the reply."""

    def __init__(self, env: WorkerEnv, app_dir: Path, settings: Mapping[str, str], log: Path):
        self._env = env
        self.app_dir = app_dir
        self._settings = dict(settings)
        self.log = log
        self._process: asyncio.subprocess.Process | None = None
        self._log_file: IO[bytes] | None = None

    async def start(self) -> None:
        self._log_file = self.log.open("wb")
        self._process = await asyncio.create_subprocess_exec(
            str(self._env.python),
            str(DRIVER),
            str(self._env.messages),
            cwd=self.app_dir,
            env=worker_environment(self._settings),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log_file,
        )

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log_file is not None:
            self._log_file.close()

    async def request(self, kind: str, message: Mapping[str, Any]) -> dict[str, Any]:
        process = self._process
        assert process is not None
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps({"type": kind, "message": message}).encode() + b"\n")
        await process.stdin.drain()
        line = await asyncio.wait_for(process.stdout.readline(), REPLY_TIMEOUT_S)
        if not line:
            raise RuntimeError(f"the worker exited; its log:\n{self.log_tail()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def init(self) -> dict[str, Any]:
        """WorkerInitRequest: the worker imports the app and indexes it."""
        message = {"function_app_directory": str(self.app_dir), "host_version": "4.1040.0"}
        return await self.request("init", message)

    async def functions(self) -> dict[str, dict[str, Any]]:
        """FunctionsMetadataRequest, then a FunctionLoadRequest per function: name -> metadata."""
        reply = await self.request("metadata", {"function_app_directory": str(self.app_dir)})
        indexed = {m["name"]: m for m in reply.get("function_metadata_results", [])}
        for metadata in indexed.values():
            loaded = await self.request("load", {"function_id": metadata["function_id"]})
            assert loaded["result"]["status"] == "Success", loaded
        return indexed

    async def invoke(
        self,
        function: Mapping[str, Any],
        inputs: Mapping[str, Mapping[str, Any]],
        trigger_metadata: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """InvocationRequest with `inputs` (binding name -> TypedData, protobuf JSON form)."""
        message = {
            "invocation_id": os.urandom(8).hex(),
            "function_id": function["function_id"],
            "input_data": [{"name": name, "data": data} for name, data in inputs.items()],
            "trigger_metadata": dict(trigger_metadata or {}),
        }
        return await self.request("invoke", message)


def http_request(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    route_params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The TypedData the host sends an HTTP trigger (raw body bytes, as the worker asks)."""
    return {
        "http": {
            "method": method,
            "url": f"http://127.0.0.1:7071{path}",
            "headers": dict(headers or {}),
            "params": dict(route_params or {}),
            "body": {"bytes": base64.b64encode(body).decode()},
        }
    }


def http_response(reply: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an invocation's HTTP return value."""
    http = reply["return_value"]["http"]
    body = base64.b64decode(http.get("body", {}).get("bytes", ""))
    return int(http["status_code"]), dict(http.get("headers", {})), body


def queue_message(body: str, message_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The queue trigger's TypedData and trigger metadata, as the host sends them."""
    metadata = {
        "Id": {"string": message_id},
        "DequeueCount": {"json": "1"},
        "PopReceipt": {"string": "receipt"},
        "InsertionTime": {"json": json.dumps("2026-11-28T00:00:00+00:00")},
    }
    return {"string": body}, metadata


def timer_request() -> dict[str, Any]:
    status = {"Last": "2026-11-28T00:00:00+00:00", "Next": "2026-11-28T00:05:00+00:00"}
    info = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": status, "IsPastDue": False}
    return {"json": json.dumps(info)}
