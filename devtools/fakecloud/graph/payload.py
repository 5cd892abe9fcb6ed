"""Checks on JSON request bodies, answering Graph's 400s for bad properties."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from devtools.fakecloud.graph.errors import GraphError, bad_request, invalid_value

MAX_BIND = 20  # members@odata.bind takes at most 20 references per request
_OBJECT_SETS = ("directoryobjects", "users", "groups")


def properties(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without instance annotations such as @odata.type."""
    return {k: v for k, v in body.items() if not k.startswith("@")}


def boolean(body: Mapping[str, Any], name: str, resource: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise invalid_value(name, resource)
    return value


def text(body: Mapping[str, Any], name: str, resource: str, *, max_length: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise invalid_value(name, resource)
    return value


def optional_text(body: Mapping[str, Any], name: str, resource: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_value(name, resource)
    return value


def mail_nickname(body: Mapping[str, Any], resource: str) -> str:
    """mailNickname: 1-64 printable ASCII characters, none of @ ( ) \\ [ ] " ; : < > , or space."""
    value = text(body, "mailNickname", resource, max_length=64)
    if any(c in '@()\\[]";:<>, ' or not 32 < ord(c) < 127 for c in value):
        raise invalid_value("mailNickname", resource)
    return value


def object_id_from_reference(reference: Any) -> str:
    """The object id in an @odata.id / @odata.bind URL such as
    https://graph.microsoft.com/v1.0/directoryObjects/{id}."""
    if not isinstance(reference, str):
        raise _invalid_reference(reference)
    segments = [unquote(s) for s in urlsplit(reference).path.split("/") if s]
    if len(segments) < 2 or segments[-2].casefold() not in _OBJECT_SETS:
        raise _invalid_reference(reference)
    return segments[-1]


def bound_members(body: Mapping[str, Any]) -> list[str]:
    """Object ids from `members@odata.bind` (absent = none)."""
    references = body.get("members@odata.bind", [])
    if not isinstance(references, list) or len(references) > MAX_BIND:
        raise bad_request(
            f"members@odata.bind must be a list of at most {MAX_BIND} references.",
            "Request_BadRequest",
        )
    return [object_id_from_reference(r) for r in references]


def _invalid_reference(reference: Any) -> GraphError:
    return bad_request(f"Invalid object identifier '{reference}'.", "Request_BadRequest")
