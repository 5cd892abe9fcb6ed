"""tenant_id, run_id and job on every log line of a tenant job, without passing them around.

A ContextVar holds them (asyncio copies context per task, so concurrent tenant jobs never mix);
a logging.Filter puts them on each record — as attributes for Application Insights'
customDimensions, and as a prefix of the message for plain-text logs.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "xtenant_job", default=None
)


@contextmanager
def job_context(run_id: str, tenant_id: str, job: str) -> Iterator[None]:
    token = _CONTEXT.set({"run_id": run_id, "tenant_id": tenant_id, "job": job})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JobContextFilter(logging.Filter):
    """Adds run_id / tenant_id / job to records logged inside a job_context."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _CONTEXT.get()
        if context and not getattr(record, "_xtenant", False):
            for key, value in context.items():
                setattr(record, key, value)
            prefix = " ".join(f"{k}={v}" for k, v in context.items())
            record.msg = f"[{prefix}] {record.msg}"
            record._xtenant = True
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of the root logger (idempotent)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, JobContextFilter) for f in handler.filters):
            handler.addFilter(JobContextFilter())
