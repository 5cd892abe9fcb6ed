"""The host's side of the Python 3.13 worker, run by the worker's own interpreter.

    <worker313>/bin/python worker_driver.py <directory of worker_messages_pb2.py>

Runs in the function app's directory with the app's settings in its environment, as the host
starts the worker. Reads one JSON object per line on stdin, `{"type": ..., "message": {...}}`,
where `type` is one of init, metadata, load, invoke and `message` is the request in protobuf's
JSON form; hands it to azure-functions-runtime's handler of that name, as the worker's gRPC
half does with what the host sends; writes the response, in the same form, as one line on
stdout. The app's own output and logs go to stderr.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TextIO

import azure_functions_runtime as runtime
from google.protobuf import json_format

HANDLERS = {
    "init": ("worker_init_request", runtime.worker_init_request),
    "metadata": ("functions_metadata_request", runtime.functions_metadata_request),
    "load": ("function_load_request", runtime.function_load_request),
    "invoke": ("invocation_request", runtime.invocation_request),
}


@dataclass
class Request:
    """What the runtime's handlers take: the host's message and the worker's properties."""

    request: Any
    properties: dict[str, Any] = field(default_factory=dict)


async def handle(messages: ModuleType, line: str) -> dict[str, Any]:
    command = json.loads(line)
    content, handler = HANDLERS[command["type"]]
    streaming = messages.StreamingMessage()
    json_format.ParseDict(command.get("message", {}), getattr(streaming, content))
    properties = {"host": "127.0.0.1", "protos": messages}
    response = await handler(Request(streaming, properties))
    return json_format.MessageToDict(response, preserving_proto_field_name=True)


async def serve(messages: ModuleType, replies: TextIO) -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        replies.write(json.dumps(await handle(messages, line)) + "\n")
        replies.flush()


def main() -> None:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # print() in the app must not reply
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, os.getcwd())  # the host starts the worker in the app's directory
    messages = importlib.import_module("worker_messages_pb2")
    runtime.start_threadpool_executor()
    try:
        asyncio.run(serve(messages, replies))
    finally:
        runtime.stop_threadpool_executor()


if __name__ == "__main__":
    main()
