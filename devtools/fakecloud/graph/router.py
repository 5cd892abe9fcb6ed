"""Match a request's path segments to a handler, answering Graph's errors for misses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.errors import GraphError, method_not_allowed, segment_not_found

Handler = Callable[[Call, dict[str, str]], GraphResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]  # literal segments (case-insensitive), or "{name}" parameters
    handler: Handler
    permissions: frozenset[str]  # any one of them suffices
    #: a second set of which one is needed as well (Graph's "A and B" permission rows)
    also: frozenset[str] = frozenset()


def _match(pattern: Sequence[str], segments: Sequence[str]) -> dict[str, str] | None:
    if len(segments) != len(pattern):
        return None
    params: dict[str, str] = {}
    for part, segment in zip(pattern, segments, strict=True):
        if part.startswith("{"):
            params[part[1:-1]] = segment
        elif part.casefold() != segment.casefold():
            return None
    return params


def resolve(
    routes: Sequence[Route], method: str, segments: Sequence[str]
) -> tuple[Route, dict[str, str]]:
    """The route for (method, segments); 405 if only the method is wrong, else 400 naming
    the first segment no route knows (Graph: "Resource not found for the segment 'x'.")."""
    path_known = False
    for route in routes:
        params = _match(route.pattern, segments)
        if params is None:
            continue
        if route.method == method:
            return route, params
        path_known = True
    if path_known:
        raise method_not_allowed()
    raise _unknown_segment(routes, segments)


def _unknown_segment(routes: Sequence[Route], segments: Sequence[str]) -> GraphError:
    for depth in range(1, len(segments) + 1):
        prefix = segments[:depth]
        if not any(_match(r.pattern[:depth], prefix) is not None for r in routes):
            return segment_not_found(segments[depth - 1])
    return segment_not_found(segments[-1] if segments else "v1.0")
