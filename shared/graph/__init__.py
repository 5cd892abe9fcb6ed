"""Calling Microsoft Graph: per-tenant sessions on one shared pool, behind one retry engine.

    GraphPool (process-wide)  ->  GraphSession (one tenant job)  ->  GraphRequest (opaque)
                                  .list_users/.list_groups/.request  build a request
                                  .get/.send/.pages/.collect        send it under RetryPolicy
                                  .batch                            `$batch`, same policy

Every call comes back as data or as a typed shared.errors.XtenantError. Single requests and
`$batch` sub-requests are retried by the same engine (tenacity): the same "retryable?" and
"how long to wait" decisions, the same budget, the same per-tenant ThrottleGate
(docs/decisions.md#one-retry-layer, docs/decisions.md#batch-retries).
Importing this package does not import msgraph or aiohttp: both load on first use
(docs/decisions.md#lazy-msgraph-import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.graph._batch import NO_ANSWER, BatchItem, BatchResult
from shared.graph._errors import (
    GRAPH_ERROR_CODES,
    classify_graph_failure,
    error_from_graph_answer,
)
from shared.graph._pool import GraphOptions, GraphPool
from shared.graph._retry import (
    NOT_SENT,
    RetryBudget,
    RetryPolicy,
    ThrottleGate,
    call_with_retry,
    is_retryable,
    parse_retry_after,
)
from shared.graph._sdk import GraphRequest, http_client
from shared.graph._session import MAX_PAGE, GraphSession

if TYPE_CHECKING:
    from shared.graph._transport import AiohttpTransport

__all__ = [
    "GRAPH_ERROR_CODES",
    "MAX_PAGE",
    "NOT_SENT",
    "NO_ANSWER",
    "AiohttpTransport",
    "BatchItem",
    "BatchResult",
    "GraphOptions",
    "GraphPool",
    "GraphRequest",
    "GraphSession",
    "RetryBudget",
    "RetryPolicy",
    "ThrottleGate",
    "call_with_retry",
    "classify_graph_failure",
    "error_from_graph_answer",
    "http_client",
    "is_retryable",
    "parse_retry_after",
]


def __getattr__(name: str) -> Any:
    """AiohttpTransport on first use: it imports aiohttp (~0.2 s)."""
    if name == "AiohttpTransport":
        from shared.graph._transport import AiohttpTransport

        return AiohttpTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
