"""A local webhook receiver: what xtenant's notifications look like from the other end.

    python -m devtools.receiver [--port 8085]     prints each event it receives

Listens on 127.0.0.1 only and answers any POST: by default 200, or as told, for tests and the
demo: `fail(times, status=500)` answers that status that many times first, `hang()` never
answers until `reset()`. It keeps every request it got (`received`); `events()` reads the
xtenant events out of them, whichever sink sent them (the generic webhook posts the event, the
Teams sink a card that names the event's id), and `describe()` makes one line per event.
`settings()` are the app settings that point xtenant's two sinks at it (`make demo`: start a
Receiver, add them to the local host's settings, print `describe(receiver.received)`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

HOST = "127.0.0.1"
WEBHOOK_PATH = "/hooks/webhook"
TEAMS_PATH = "/hooks/teams"


@dataclass(frozen=True)
class Received:
    path: str
    body: Any
    #: what the receiver answered (0: it never did)
    status: int

    @property
    def event(self) -> dict[str, Any] | None:
        """The xtenant event this request carried: the body itself (webhook), or the facts of
        the Adaptive Card it holds (Teams), with the card under `card`."""
        if isinstance(self.body, dict) and "kind" in self.body and "id" in self.body:
            return self.body
        card = _card(self.body)
        if card is None:
            return None
        facts = {f["title"]: f["value"] for b in card["body"] for f in b.get("facts", [])}
        summary = card["body"][1]["text"] if len(card["body"]) > 1 else ""
        return {
            "id": facts.get("event id"),
            "kind": facts.get("event kind"),
            "summary": summary,
            "card": card,
        }


def _card(body: Any) -> dict[str, Any] | None:
    try:
        attachment = body["attachments"][0]
    except (KeyError, IndexError, TypeError):
        return None
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return None
    content = attachment.get("content")
    return content if isinstance(content, dict) else None


@dataclass
class _Script:
    failures_left: int = 0
    status: int = 500
    retry_after: str | None = None
    #: only requests whose body holds this text count (None: every request)
    matching: str | None = None
    hanging: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)


class Receiver:
    """An aiohttp server on 127.0.0.1 that records every POST (a free port unless given)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.received: list[Received] = []
        self._script = _Script()
        self._runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._script.released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def url(self, path: str = WEBHOOK_PATH) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def settings(self) -> dict[str, str]:
        """The app settings that point both of xtenant's sinks here (a local host's settings)."""
        return {
            "XTENANT_WEBHOOK_URL": self.url(WEBHOOK_PATH),
            "XTENANT_TEAMS_WEBHOOK_URL": self.url(TEAMS_PATH),
        }

    def fail(
        self,
        times: int,
        *,
        status: int = 500,
        retry_after: str | None = None,
        matching: str | None = None,
    ) -> None:
        """Answer `status` to the next `times` requests (those whose body holds `matching`,
        when given), then 200 again."""
        self._script = _Script(times, status, retry_after, matching)

    def hang(self) -> None:
        """Never answer (until reset()): the sender's timeout is all it gets."""
        self._script.released.set()
        self._script = _Script(hanging=True)

    def reset(self) -> None:
        """Answer 200 at once again; requests left hanging are let go."""
        self._script.released.set()
        self._script = _Script()

    def events(self, *, path: str | None = None, subject: str | None = None) -> list[Received]:
        """The requests that carried an xtenant event (optionally one sink's, one subject's)."""
        return [
            r
            for r in self.received
            if r.event is not None
            and (path is None or r.path == path)
            and (subject is None or r.event.get("subject") == subject)
        ]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        script = self._script
        raw = await request.read()
        body = _json(raw)
        if script.hanging:
            self.received.append(Received(request.path, body, 0))
            await script.released.wait()
            raise web.HTTPServiceUnavailable()  # the sender is long gone
        status, headers = 200, {}
        counts = script.matching is None or script.matching.encode() in raw
        if script.failures_left > 0 and counts:
            script.failures_left -= 1
            status = script.status
            if script.retry_after is not None:
                headers["Retry-After"] = script.retry_after
        self.received.append(Received(request.path, body, status))
        return web.json_response({"status": status}, status=status, headers=headers)


def _json(raw: bytes) -> Any:
    with contextlib.suppress(ValueError):
        return json.loads(raw)
    return None


def describe(received: Sequence[Received]) -> list[str]:
    """One line per event (by id): its kind, subject and summary, and who got it how often."""
    seen: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for request in received:
        event = request.event
        if event is None or not event.get("id"):
            continue
        _, sinks = seen.setdefault(str(event["id"]), (event, []))
        sinks.append("teams" if request.path == TEAMS_PATH else "webhook")
    return [
        f"{event.get('kind', '?'):<22} {event.get('summary', '')}  "
        f"[{', '.join(f'{s} x{sinks.count(s)}' for s in sorted(set(sinks)))}]"
        for event, sinks in seen.values()
    ]


async def _serve(port: int) -> None:
    async with Receiver(port) as receiver:
        print(f"receiving on {receiver.url()} and {receiver.url(TEAMS_PATH)}; Ctrl-C stops")
        shown = 0
        while True:
            await asyncio.sleep(0.5)
            for line in describe(receiver.received[shown:]):
                print(line, flush=True)
            shown = len(receiver.received)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8085)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
