"""The span of one (tenant, job), the span of a run's fan-out, and the rows and poison metrics.

A `tenant_job` span is a CONSUMER span (a queue message's processing): Application Insights
shows it in `requests`, with the Graph and token requests under it in `dependencies`. Its
status is an error only when the row ended `failed` or `blocked`, or the delivery failed
unexpectedly; a delivery that hands the message back for later (`retry`) is not an error yet.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from opentelemetry.trace import Span, SpanKind, StatusCode

from shared.telemetry._instruments import (
    ERROR_CLASS,
    GRAPH_REQUESTS,
    JOB,
    MODE,
    RETRIES,
    RUN_ID,
    STATUS,
    TENANT_ID,
    WAITED_S,
    current,
    span,
)

if TYPE_CHECKING:
    from shared.errors import XtenantError
    from shared.results import TenantResult

#: Row statuses whose span is an error: the tenant's work failed, or the app's identity did.
_FAILED = frozenset({"failed", "blocked"})


class Row(Protocol):
    """What names a row: a queue message (shared/messages.py) has these."""

    @property
    def run_id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def job(self) -> str: ...
    @property
    def mode(self) -> str: ...  # a StrEnum: str() is its value


class JobSpan:
    """The running `tenant_job` span: what the worker learns is written on it."""

    def __init__(self, opened: Span, job: str) -> None:
        self.span = opened
        self.job = job
        self.ended = False

    def returned(self, status: str) -> None:
        """The status the delivery returned (the row's, when nothing ended it here)."""
        if not self.ended:
            self.span.set_attribute(STATUS, status)

    def end_row(self, status: str, error_class: str | None) -> None:
        self.ended = True
        self.span.set_attribute(STATUS, status)
        if error_class:
            self.span.set_attribute(ERROR_CLASS, error_class)
        if status in _FAILED:
            self.span.set_status(StatusCode.ERROR, error_class or status)


_JOB: contextvars.ContextVar[JobSpan | None] = contextvars.ContextVar("xtenant_span", default=None)


@contextmanager
def tenant_job(row: Row, *, retry_later: type[BaseException]) -> Iterator[JobSpan]:
    """The span of one delivery of a (run, tenant, job) message.

    `retry_later` is the exception with which the worker hands the message back to the queue:
    the span says `retry`, not an error. Any other exception is an error, named by its class
    only (an exception's text may quote what a tenant holds).
    """
    attributes = {RUN_ID: row.run_id, TENANT_ID: row.tenant_id, JOB: row.job, MODE: str(row.mode)}
    with span(
        "tenant_job", kind=SpanKind.CONSUMER, attributes=attributes, passes=(retry_later,)
    ) as opened:
        handle = JobSpan(opened, row.job)
        token = _JOB.set(handle)
        try:
            yield handle
        except retry_later:
            opened.set_attribute(STATUS, "retry")
            raise
        finally:
            _JOB.reset(token)


def job_result(result: TenantResult) -> None:
    """What the job did in the tenant, on its span: error class, requests, retries, waits."""
    handle = _JOB.get()
    if handle is None:
        return
    if result.error is not None:
        handle.span.set_attribute(ERROR_CLASS, result.error.error_class)
    handle.span.set_attribute(GRAPH_REQUESTS, result.graph_requests)
    handle.span.set_attribute(RETRIES, result.retries)
    handle.span.set_attribute(WAITED_S, round(result.waited_s, 3))


def row_ended(job: str, status: str, error: XtenantError | None = None) -> None:
    """A row reached its final status: counted, and written on the running span if any."""
    current().rows.add(1, {"status": status, "job": job})
    handle = _JOB.get()
    if handle is not None:
        handle.end_row(status, error.error_class if error is not None else None)


def message_rejected(error: XtenantError) -> None:
    """The delivery's message was kept apart, unacted on (forged, tampered, for a held row)."""
    handle = _JOB.get()
    if handle is not None:
        handle.ended = True
        handle.span.set_attribute(STATUS, "rejected")
        handle.span.set_attribute(ERROR_CLASS, error.error_class)


def poison_message() -> None:
    """The poison queue delivered a message (one that kept failing)."""
    current().poison_messages.add(1)


class Fanout:
    """The running `run_fanout` span."""

    def __init__(self, opened: Span) -> None:
        self.span = opened

    def sent(self, messages: int, not_queued: int) -> None:
        self.span.set_attribute("xtenant.messages", messages)
        self.span.set_attribute("xtenant.not_queued", not_queued)
        if not_queued:
            self.span.set_status(StatusCode.ERROR, "not_queued")


@contextmanager
def run_fanout(run_id: str, *, rows: int, origin: str) -> Iterator[Fanout]:
    """The span of starting a run: its ledger rows written, then one message per row."""
    attributes: dict[str, str | int] = {RUN_ID: run_id, "xtenant.rows": rows}
    attributes["xtenant.origin"] = origin
    with span("run_fanout", attributes=attributes) as opened:
        yield Fanout(opened)
