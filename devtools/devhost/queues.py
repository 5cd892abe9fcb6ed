"""Queue triggers with the Functions host's semantics, against Azure Storage (Azurite locally).

Per queue function, one listener (WebJobs Storage Queues extension, QueueListener/QueueProcessor):
- receives up to batchSize messages, invisible for functionTimeout while they run, and fetches
  the next batch once the number running drops to newBatchThreshold: at most
  batchSize + newBatchThreshold run at once (host.json reference, "queues");
- success deletes the message; a failure makes it visible again after visibilityTimeout, and a
  failure at dequeue count >= maxDequeueCount copies its body to `<queue>-poison` (created if
  missing) and deletes it. A message already past maxDequeueCount when received is moved
  without running; one that is not valid base64 (messageEncoding base64) is moved at once;
- a queue named `*-poison` has no poison queue: a failed message there stays invisible until
  its visibility timeout ends, as on Azure;
- an empty queue is polled again after 100 ms, doubling up to maxPollingInterval.
Messages are read and copied raw (no SDK encode/decode policy) so a poison copy is byte-equal.

`deliveries=2` hands every received message to the function twice at once, as two hosts that
both received it would: the Queue service delivers at least once (a message whose visibility
timeout lapses while its first run goes on is delivered again), and an app must do its work
once all the same. Each run completes the message on its own, as separate hosts would: the
first success deletes it (the other's delete finds it gone), a failure releases or poisons it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import math
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

import azure.functions.queue as func_queue
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devtools.devhost.config import DevHostError, QueueOptions
from devtools.devhost.functions import FunctionTimeoutError, QueueFunction
from devtools.devhost.ledger import Invocation, Ledger, Outcome, logger

POISON_SUFFIX = "-poison"
MIN_POLLING_INTERVAL_S = 0.1  # the extension's QueuePollingIntervals.Minimum
UNLIMITED_VISIBILITY_S = 600  # functionTimeout -1: the extension's 10-minute lease
MAX_VISIBILITY_S = 7 * 24 * 3600


def connection_string(settings: Mapping[str, str], connection: str) -> str:
    """The connection string a binding's `connection` names (the host also tries AzureWebJobs*)."""
    for name in (connection, f"AzureWebJobs{connection}"):
        value = settings.get(name, "").strip()
        if value:
            return value
    if any(key.startswith(f"{connection}__") for key in settings):
        raise DevHostError(
            [
                f"connection {connection!r} is identity-based ({connection}__...): the dev host "
                "needs a connection string, e.g. Azurite's"
            ]
        )
    raise DevHostError([f"connection {connection!r} names no app setting with a value"])


class StorageAccounts:
    """One QueueServiceClient per connection string, shared by every listener that uses it."""

    def __init__(self) -> None:
        self._services: dict[str, QueueServiceClient] = {}

    def queue(self, connection_string: str, queue_name: str) -> QueueClient:
        service = self._services.get(connection_string)
        if service is None:
            service = QueueServiceClient.from_connection_string(connection_string)
            self._services[connection_string] = service
        return service.get_queue_client(queue_name)

    async def close(self) -> None:
        for service in self._services.values():
            await service.close()
        self._services.clear()


async def approximate_count(queue: QueueClient) -> int:
    """Messages in the queue, visible or not (a missing queue holds none)."""
    try:
        properties = await queue.get_queue_properties()
    except ResourceNotFoundError:
        return 0
    return int(properties.approximate_message_count or 0)


def receive_visibility_s(function_timeout_s: float | None) -> int:
    if function_timeout_s is None:
        return UNLIMITED_VISIBILITY_S
    return max(1, min(MAX_VISIBILITY_S, math.ceil(function_timeout_s)))


class QueueListener:
    """Polls one queue for one function and runs what it receives, as the host does."""

    def __init__(
        self,
        spec: QueueFunction,
        queue: QueueClient,
        poison: QueueClient | None,
        *,
        options: QueueOptions,
        function_timeout_s: float | None,
        executor: Executor,
        ledger: Ledger,
        deliveries: int = 1,
    ) -> None:
        self.spec = spec
        self.queue = queue
        self.poison = poison
        self._deliveries = deliveries
        self._options = options
        self._timeout_s = function_timeout_s
        self._executor = executor
        self._ledger = ledger
        self._running: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._wake = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._last_error: str | None = None
        self._max_delay_s = max(options.max_polling_interval_s, MIN_POLLING_INTERVAL_S)

    def wake(self) -> None:
        """Poll now instead of waiting out the back-off (drain() calls this)."""
        self._wake.set()

    def pause(self) -> None:
        """Stop taking messages (those running go on), as a host that scaled to zero."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()
        self.wake()

    async def run(self) -> None:
        delay = MIN_POLLING_INTERVAL_S
        while True:
            await self._resumed.wait()
            await self._wait_for_capacity()
            try:
                messages = await self._receive()
            except Exception:  # a dev host bug, not the storage service: keep listening
                logger.exception("listener for %s: receive failed", self.queue.queue_name)
                messages = []
            for message in messages:
                task = asyncio.create_task(self._process(message))
                self._running.add(task)
                task.add_done_callback(self._done)
            if messages:
                delay = MIN_POLLING_INTERVAL_S
                continue
            await self._idle(delay)
            delay = min(delay * 2, self._max_delay_s)

    async def stop(self, grace_s: float) -> None:
        """Let running invocations finish for up to `grace_s`, then cancel them."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace_s)
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "%s: message handling failed", self.spec.function.name, exc_info=task.exception()
            )

    async def _wait_for_capacity(self) -> None:
        while len(self._running) > self._options.new_batch_threshold:
            self._slot_freed.clear()
            await self._slot_freed.wait()

    async def _idle(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)
        self._wake.clear()

    async def _receive(self) -> list[QueueMessage]:
        pages = self.queue.receive_messages(
            messages_per_page=self._options.batch_size,
            visibility_timeout=receive_visibility_s(self._timeout_s),
        ).by_page()
        try:
            page = await anext(pages)
            messages = [message async for message in page]
        except (StopAsyncIteration, ResourceNotFoundError):
            return []
        except AzureError as error:
            self._warn_once(f"cannot receive from {self.queue.queue_name}: {error}")
            return []
        self._last_error = None
        if messages:
            self._ledger.activity += 1
        return messages

    def _warn_once(self, text: str) -> None:
        if text != self._last_error:
            logger.warning(text.splitlines()[0])
            self._last_error = text

    async def _process(self, message: QueueMessage) -> None:
        dequeue_count = int(message.dequeue_count or 1)
        if dequeue_count > self._options.max_dequeue_count:
            await self._move_unseen(message, dequeue_count)
            return
        try:
            body = self._decode(message.content)
        except ValueError:
            await self._move_unseen(message, dequeue_count)
            return
        runs = (self._deliver(message, body, dequeue_count) for _ in range(self._deliveries))
        await asyncio.gather(*runs)

    async def _deliver(self, message: QueueMessage, body: bytes, dequeue_count: int) -> None:
        self._ledger.started()
        try:
            invocation = await self._invoke(message, body, dequeue_count)
        except BaseException:  # cancelled at shutdown, or a dev host bug: not an outcome
            self._ledger.cancelled()
            raise
        self._ledger.finished(invocation)

    async def _invoke(self, message: QueueMessage, body: bytes, dequeue_count: int) -> Invocation:
        started = time.monotonic()
        error = await self._run_function(message, body)
        poisoned_to = await self._complete(message, dequeue_count, failed=error is not None)
        return Invocation(
            function=self.spec.function.name,
            trigger="queue",
            outcome=Outcome.FAILED if error else Outcome.SUCCEEDED,
            duration_s=time.monotonic() - started,
            message_id=message.id,
            dequeue_count=dequeue_count,
            error=error,
            poisoned_to=poisoned_to,
        )

    async def _run_function(self, message: QueueMessage, body: bytes) -> str | None:
        """None on success, else the error as one line (the traceback goes to the debug log)."""
        trigger = _trigger_message(message, body)
        try:
            await self.spec.function.call(trigger, self._executor, self._timeout_s)
        except FunctionTimeoutError as error:
            return str(error)
        except Exception as error:
            logger.debug("%s failed", self.spec.function.name, exc_info=True)
            return f"{type(error).__name__}: {error}"
        return None

    async def _complete(
        self, message: QueueMessage, dequeue_count: int, *, failed: bool
    ) -> str | None:
        """Delete, release or poison the message; the poison queue's name if it went there."""
        try:
            if not failed:
                await self.queue.delete_message(message.id, message.pop_receipt)
            elif self.poison is not None and dequeue_count >= self._options.max_dequeue_count:
                await self._copy_to_poison_and_delete(message)
                return self.poison.queue_name
            elif self.poison is not None:
                await self.queue.update_message(
                    message.id,
                    message.pop_receipt,
                    visibility_timeout=math.ceil(self._options.visibility_timeout_s),
                )
        except ResourceNotFoundError:
            logger.debug("message %s or its queue is gone", message.id)
        except AzureError as error:
            logger.warning("cannot complete message %s: %s", message.id, str(error).splitlines()[0])
        return None

    async def _move_unseen(self, message: QueueMessage, dequeue_count: int) -> None:
        """Poison a message without invoking (past maxDequeueCount, or undecodable)."""
        if self.poison is None:
            return  # a poison queue's own bad message stays invisible, as on Azure
        try:
            await self._copy_to_poison_and_delete(message)
        except AzureError as error:
            logger.warning("cannot poison message %s: %s", message.id, str(error).splitlines()[0])
            return
        self._ledger.poisoned_unseen(
            self.spec.function.name, message.id, dequeue_count, self.poison.queue_name
        )

    async def _copy_to_poison_and_delete(self, message: QueueMessage) -> None:
        assert self.poison is not None
        with contextlib.suppress(ResourceExistsError):
            await self.poison.create_queue()
        await self.poison.send_message(message.content or "")
        await self.queue.delete_message(message.id, message.pop_receipt)

    def _decode(self, content: Any) -> bytes:
        text = "" if content is None else str(content)
        if self._options.message_encoding == "none":
            return text.encode("utf-8")
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error as error:
            logger.warning("message is not valid base64 (messageEncoding is base64): %s", error)
            raise ValueError("not base64") from error


def _trigger_message(message: QueueMessage, body: bytes) -> func_queue.QueueMessage:
    """What the worker builds from the host's trigger metadata (azure.functions.queue)."""
    return func_queue.QueueMessage(  # type: ignore[no-untyped-call]
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        expiration_time=message.expires_on,
        insertion_time=message.inserted_on,
        time_next_visible=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )
