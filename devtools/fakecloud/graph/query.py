"""OData system query options on collections: $select, $filter, $top, $count, $skiptoken.

Paging follows https://learn.microsoft.com/graph/paging: default page 100, `$top` 1..999,
`@odata.nextLink` is an absolute URL carrying the original options plus an opaque
`$skiptoken`. The token here is a cursor (the last object id served), so a page boundary
survives objects being added meanwhile. With `signInActivity` selected or filtered Graph serves
at most 120 users a page whatever `$top` says (Graph's "List users" page, example 11).
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from devtools.fakecloud.graph.errors import bad_request, not_emulated, unsupported_query
from devtools.fakecloud.graph.filter_eval import CompiledFilter, compile_filter
from devtools.fakecloud.graph.model import to_json
from devtools.fakecloud.graph.schema import EntitySchema, uses_sign_in_activity

T = TypeVar("T")
DEFAULT_PAGE = 100
MAX_PAGE = 999
SIGN_IN_ACTIVITY_PAGE = 120
_NOT_EMULATED = ("$orderby", "$expand", "$search", "$apply", "$format", "$compute")
_KNOWN = ("$select", "$filter", "$top", "$count", "$skiptoken")


@dataclass(frozen=True)
class QueryOptions:
    select: tuple[str, ...] | None
    filter: CompiledFilter | None
    top: int | None
    after: str | None  # cursor from $skiptoken: the last id already served
    count: bool  # $count=true as an advanced query (ConsistencyLevel: eventual)
    pairs: tuple[tuple[str, str], ...]  # the request's query, for the nextLink

    @property
    def uses_sign_in_activity(self) -> bool:
        selected = uses_sign_in_activity(list(self.select or ()))
        return selected or bool(self.filter and self.filter.uses_sign_in_activity)

    @property
    def page_size(self) -> int:
        size = self.top or DEFAULT_PAGE
        return min(size, SIGN_IN_ACTIVITY_PAGE) if self.uses_sign_in_activity else size


def parse_query(
    pairs: Sequence[tuple[str, str]],
    schema: EntitySchema,
    *,
    consistency_eventual: bool,
    collection: bool = True,
) -> QueryOptions:
    """Read the system query options Graph honours here; reject the rest as Graph does."""
    options = _system_options(pairs, collection)
    count = _parse_count(options.get("$count"))
    advanced = consistency_eventual and count
    text = options.get("$filter")
    return QueryOptions(
        select=parse_select(options.get("$select"), schema),
        filter=compile_filter(text, schema, advanced=advanced) if text else None,
        top=_parse_top(options.get("$top")),
        after=decode_skiptoken(options["$skiptoken"]) if "$skiptoken" in options else None,
        count=advanced,
        pairs=tuple(pairs),
    )


def _system_options(pairs: Sequence[tuple[str, str]], collection: bool) -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in pairs:
        name = key.casefold()
        if not name.startswith("$"):
            continue  # Graph ignores parameters that are not system query options
        if name in _NOT_EMULATED:
            raise not_emulated(f"the {name} query option")
        if name == "$skip":
            raise bad_request("'$skip' is not supported by the service.", "Request_BadRequest")
        if name not in _KNOWN or (not collection and name not in ("$select",)):
            raise bad_request(f"The query parameter '{key}' is not supported.")
        options[name] = value
    return options


def parse_select(text: str | None, schema: EntitySchema) -> tuple[str, ...] | None:
    if text is None or not text.strip():
        return None
    names = [schema.select_name(part) for part in text.split(",") if part.strip()]
    return tuple(dict.fromkeys(names))


def _parse_top(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        top = int(text)
    except ValueError:
        raise bad_request(
            f"Invalid value '{text}' for $top query option found. "
            "The $top query option requires a non-negative integer value."
        ) from None
    if not 1 <= top <= MAX_PAGE:
        raise unsupported_query(
            f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE} inclusive."
        )
    return top


def _parse_count(text: str | None) -> bool:
    if text is None:
        return False
    if text.casefold() not in ("true", "false"):
        raise bad_request(f"'{text}' is not a valid count option.")
    return text.casefold() == "true"


def encode_skiptoken(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"c1:{last_id}".encode()).rstrip(b"=").decode()


def decode_skiptoken(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raw = ""
    if not raw.startswith("c1:"):
        raise bad_request("The specified page token value is invalid.", "Request_BadRequest")
    return raw[3:]


# --- pages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_after: str | None  # cursor for the next page, None on the last page
    total: int | None  # @odata.count when asked for


def take_page(
    items: Sequence[T],
    key: Callable[[T], str],
    matches: Callable[[T], bool],
    options: QueryOptions,
) -> Page:
    """One page of `items` (sorted by `key`) after the cursor, plus whether more follow."""
    start = bisect.bisect_right(items, options.after, key=key) if options.after else 0
    size = options.page_size
    page: list[T] = []
    more = False
    for item in items[start:]:
        if not matches(item):
            continue
        if len(page) == size:
            more = True
            break
        page.append(item)
    total = sum(1 for item in items if matches(item)) if options.count else None
    return Page(page, key(page[-1]) if more else None, total)


def next_link(audience: str, path: str, options: QueryOptions, after: str) -> str:
    """The absolute nextLink: same path and options, a new $skiptoken."""
    kept = [(k, v) for k, v in options.pairs if k.casefold() != "$skiptoken"]
    kept.append(("$skiptoken", encode_skiptoken(after)))
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=_SAFE)}" for k, v in kept)
    return f"{audience}/v1.0{path}?{query}"


_SAFE = "$',()/:@"


def context_url(audience: str, entity_set: str, select: tuple[str, ...] | None) -> str:
    selected = f"({','.join(select)})" if select else ""
    return f"{audience}/v1.0/$metadata#{entity_set}{selected}"


def project(
    record: Mapping[str, Any], select: tuple[str, ...] | None, schema: EntitySchema
) -> dict[str, Any]:
    """The JSON of one object: selected properties only, else the type's default set."""
    names = select or schema.default_select or tuple(record)
    return {name: to_json(record[name]) for name in names if name in record}


def collection_body(
    context: str, values: list[dict[str, Any]], page: Page, link: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.context": context}
    if page.total is not None:
        body["@odata.count"] = page.total
    if link:
        body["@odata.nextLink"] = link
    body["value"] = values
    return body
