"""Comparing a setting's desired and observed values the way Graph means them, so that a
difference Graph does not care about is never reported as drift.

- Lists Graph treats as sets compare as sets (order and repeats ignored).
- GUIDs and enum strings compare without case.
- An absent value equals the setting's documented default.
- Properties the server adds (ids, timestamps, `@odata.*`) are not compared.

Pure functions: each setting says how it compares with a `Comparison`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: Properties Graph adds to what it returns; never part of a desired value.
READ_ONLY = frozenset({"id", "createdDateTime", "modifiedDateTime", "lastModifiedDateTime"})


@dataclass(frozen=True)
class Comparison:
    """How one setting compares: as a set or a sequence, with or without case, and the value
    Graph assumes when the property is absent."""

    as_set: bool = True
    ignore_case: bool = True
    default: Any = None
    read_only: frozenset[str] = field(default=READ_ONLY)


SET_LIKE = Comparison()


def normalise(value: Any, how: Comparison = SET_LIKE) -> Any:
    """`value` in a form where equal means equal to Graph."""
    if value is None:
        value = how.default
    if isinstance(value, str):
        return value.lower() if how.ignore_case or _GUID.fullmatch(value) else value
    if isinstance(value, Mapping):
        return _mapping(value, how)
    if isinstance(value, (list, tuple)):
        items = [_key(normalise(item, how)) for item in value]
        return tuple(sorted(set(items))) if how.as_set else tuple(items)
    return value


def same(desired: Any, observed: Any, how: Comparison = SET_LIKE) -> bool:
    """Whether the observed value meets the desired one: only properties the desired value
    names are compared when both are objects (the server may add others)."""
    if isinstance(desired, Mapping) and isinstance(observed, Mapping):
        inner = Comparison(how.as_set, how.ignore_case, None, how.read_only)
        return all(same(v, observed.get(k), inner) for k, v in desired.items())
    return bool(normalise(desired, how) == normalise(observed, how))


def _mapping(value: Mapping[str, Any], how: Comparison) -> tuple[tuple[str, Any], ...]:
    inner = Comparison(how.as_set, how.ignore_case, None, how.read_only)
    kept = (
        (k, normalise(v, inner))
        for k, v in value.items()
        if k not in how.read_only and not k.startswith("@odata.") and v is not None
    )
    return tuple(sorted(kept))


def _key(value: Any) -> Any:
    """Something hashable and sortable across types, for set comparison."""
    return (type(value).__name__, repr(value))
