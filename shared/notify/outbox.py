"""Emitting an event: one queue message per (event, configured sink), delivered later, elsewhere.

The code that notices a state change (a worker, the sweeper, a breaker) only enqueues; a
queue-triggered function delivers (delivery.py). So a slow or dead receiver never slows or fails
a run, each sink is retried on its own, and the queue's redelivery and poison queue give at-least-
once delivery with a record of what could not be delivered (docs/decisions.md#event-outbox).

    {"v": 1, "sink": "teams", "event": {...the event, links absolute...}}

The message names its sink by kind; the URL is read from the settings when delivering, so no
queue message carries a secret. `emit` never raises: an event that cannot be queued is logged
and counted (GET /api/health), and its caller goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from shared.notify.failures import FailedDeliveries
from shared.notify.schema import Event, InvalidEvent
from shared.notify.sinks import Sink, SinkKind, configured

if TYPE_CHECKING:
    import httpx
    from azure.storage.queue.aio import QueueClient

log = logging.getLogger(__name__)

#: The delivery queue; the Functions host moves a message that failed maxDequeueCount times
#: to `<queue>-poison` (host.json), where the failure is recorded (delivery.py).
EVENTS_QUEUE = "xtenant-events"
EVENTS_POISON_QUEUE = f"{EVENTS_QUEUE}-poison"
VERSION = 1
#: A queue message holds 64 KiB, base64 (the trigger's encoding) makes 3 bytes 4.
MAX_MESSAGE_CHARS = 40_000
#: An enqueue that takes longer is given up (logged, counted): the caller must go on.
EMIT_TIMEOUT_S = 5.0


class BadDelivery(ValueError):
    """A delivery message this version cannot read: dropped, never retried."""


@dataclass(frozen=True)
class Delivery:
    sink: SinkKind
    event: Event

    def to_json(self) -> str:
        body = {"v": VERSION, "sink": self.sink.value, "event": self.event.as_json()}
        text = json.dumps(body, separators=(",", ":"), default=str)
        if len(text) <= MAX_MESSAGE_CHARS:
            return text
        data = {"truncated": True, "size": len(text)}
        return Delivery(self.sink, replace(self.event, data=data)).to_json()

    @classmethod
    def parse(cls, body: bytes | str) -> Delivery:
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadDelivery("not JSON") from None
        if not isinstance(raw, dict) or raw.get("v") != VERSION:
            raise BadDelivery(f"not a version {VERSION} delivery")
        try:
            return cls(SinkKind(str(raw.get("sink"))), Event.from_json(raw.get("event")))
        except (ValueError, InvalidEvent) as exc:
            raise BadDelivery(str(exc)) from None


class Emit(Protocol):
    """What emitting code is handed: send these events (None: nothing); never raises."""

    async def __call__(self, *events: Event | None) -> None: ...


async def nowhere(*events: Event | None) -> None:
    """The emitter of code built without a notifier (tests, tools): events go nowhere."""


class _Redactor(logging.Filter):
    """Takes the sinks' URLs out of the HTTP client's log lines, whatever its level: httpx logs
    every request's URL at INFO, and a sink's URL holds its token."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def keep_out(self, urls: Iterable[str]) -> None:
        import httpx

        for url in urls:
            parsed = httpx.URL(url)  # as the client logs it: default port dropped, encoded
            for text in (url, str(parsed), parsed.raw_path.decode("ascii", "replace")):
                if len(text) > 1 and text not in self.secrets:
                    self.secrets.append(text)
        self.secrets.sort(key=len, reverse=True)
        if self not in logging.getLogger("httpx").filters:
            logging.getLogger("httpx").addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(secret in text for secret in self.secrets):
            for secret in self.secrets:
                text = text.replace(secret, "<sink URL>")
            record.msg, record.args = text, None
        return True


_REDACTOR = _Redactor()


class Notifier:
    """The process's event outbox (emit) and what delivery needs: sinks, client, failures."""

    def __init__(
        self,
        queue: QueueClient,
        sinks: Mapping[SinkKind, Sink],
        *,
        public_url: str,
        failures: FailedDeliveries,
        timeout_s: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.queue = queue
        self.sinks = dict(sinks)
        _REDACTOR.keep_out(sink.url.value for sink in self.sinks.values())
        self.public_url = public_url
        self.failures = failures
        self.timeout_s = timeout_s
        #: events this process could not queue since it started
        self.not_queued = 0
        #: the delivery client; built on first use unless given (tests give one on a mock transport)
        self._client = client

    async def emit(self, *events: Event | None) -> None:
        """One queue message per (event, sink); nothing when no sink is configured."""
        if not self.sinks:
            return
        sent = [self._send(e.linked_from(self.public_url)) for e in events if e is not None]
        await asyncio.gather(*sent)

    async def _send(self, event: Event) -> None:
        for kind in sorted(self.sinks):
            text = Delivery(kind, event).to_json()
            try:
                await asyncio.wait_for(self.queue.send_message(text), EMIT_TIMEOUT_S)
            except Exception as exc:  # never into the caller: a run must not fail for this
                self.not_queued += 1
                log.error(
                    "could not queue event %s %s for %s: %s",
                    event.kind.value,
                    event.id,
                    kind.value,
                    type(exc).__name__,
                )

    async def ensure_queue(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self.queue.create_queue()

    async def health(self) -> dict[str, Any]:
        """What GET /api/health shows: sinks by kind, the last failed delivery, never a URL."""
        return {
            "sinks": configured(self.sinks),
            "last_failure": await self.failures.last() if self.sinks else None,
            "not_queued_since_start": self.not_queued,
        }

    def client(self) -> httpx.AsyncClient:
        """The delivery client, one per process. No redirects: a redirect would take the
        request, token and all, somewhere the operator did not configure."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s), follow_redirects=False
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
