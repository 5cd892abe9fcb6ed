"""Check a parsed $filter against Graph's rules for an entity, then evaluate it on records.

The checks answer what Graph answers: an unknown property is a 400 BadRequest, an operator the
property does not support is a 400 Request_UnsupportedQuery, an operator that needs an advanced
query without `ConsistencyLevel: eventual` + `$count=true` is a 400 naming the operator, and
`signInActivity` may not be combined with any other property ("Supports $filter (eq, ne, not,
ge, le) but not with any other filterable properties", Graph's user resource page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devtools.fakecloud.graph.errors import bad_request, needs_advanced_query, unsupported_clause
from devtools.fakecloud.graph.filter_parser import (
    Comparison,
    Junction,
    Literal,
    Membership,
    Negation,
    Node,
    TextMatch,
    parse_filter,
)
from devtools.fakecloud.graph.schema import EntitySchema, PropertySpec

Record = Mapping[str, Any]

_EDM = {
    "string": "Edm.String",
    "bool": "Edm.Boolean",
    "datetime": "Edm.DateTimeOffset",
    "number": "Edm.Int32",
}
_OPERATOR_KIND = {
    "eq": "Equal",
    "ne": "NotEqual",
    "ge": "GreaterThanOrEqual",
    "le": "LessThanOrEqual",
    "gt": "GreaterThan",
    "lt": "LessThan",
}
_SPELLING = {"endswith": "endsWith", "startswith": "startsWith", "null": "eq null"}


@dataclass(frozen=True)
class CompiledFilter:
    """A checked filter: which properties it reads, and a predicate over records."""

    node: Node
    paths: tuple[str, ...]

    def matches(self, record: Record) -> bool:
        return _evaluate(self.node, record)

    @property
    def uses_sign_in_activity(self) -> bool:
        return any(p.startswith("signInActivity/") for p in self.paths)


def compile_filter(text: str, schema: EntitySchema, *, advanced: bool) -> CompiledFilter:
    """Parse and check `text`; raise GraphError (400) as Graph would."""
    node = parse_filter(text)
    checker = _Checker(schema, advanced)
    checker.check(node, negated=False)
    paths = tuple(dict.fromkeys(checker.paths))
    if (
        any(p.startswith("signInActivity/") for p in paths)
        and len({p.split("/")[0] for p in paths}) > 1
    ):
        raise unsupported_clause("signInActivity", schema.resource)
    return CompiledFilter(node, paths)


class _Checker:
    def __init__(self, schema: EntitySchema, advanced: bool) -> None:
        self.schema = schema
        self.advanced = advanced
        self.paths: list[str] = []

    def check(self, node: Node, *, negated: bool) -> None:
        if isinstance(node, Junction):
            self.check(node.left, negated=negated)
            self.check(node.right, negated=negated)
        elif isinstance(node, Negation):
            self.check(node.operand, negated=True)
        elif isinstance(node, Comparison):
            spec = self._leaf(node.path, self._comparison_ops(node), negated)
            self._check_type(spec, node.literal, node.op)
        elif isinstance(node, Membership):
            spec = self._leaf(node.path, ["in"], negated)
            for literal in node.literals:
                self._check_type(spec, literal, "eq")
        else:
            spec = self._leaf(node.path, [node.function], negated)
            self._check_type(spec, node.literal, "eq", text_only=True)

    @staticmethod
    def _comparison_ops(node: Comparison) -> list[str]:
        if node.literal.kind != "null":
            return [node.op]
        return ["null"] if node.op == "eq" else [node.op, "null"]

    def _leaf(self, path: str, ops: list[str], negated: bool) -> PropertySpec:
        spec = self.schema.filter_property(path)
        if spec is None:
            raise unsupported_clause(path, self.schema.resource)
        for op in ops + (["not"] if negated else []):
            self._check_operator(spec, op)
        self.paths.append(spec.name)
        return spec

    def _check_operator(self, spec: PropertySpec, op: str) -> None:
        if op in spec.default_ops:
            return
        if op not in spec.advanced_ops:
            raise unsupported_clause(spec.name, self.schema.resource)
        if not self.advanced:
            raise needs_advanced_query(_SPELLING.get(op, op))

    def _check_type(
        self, spec: PropertySpec, literal: Literal, op: str, *, text_only: bool = False
    ) -> None:
        if literal.kind == "null" and not text_only:
            return
        if literal.kind == spec.kind and (spec.kind == "string" or not text_only):
            return
        raise bad_request(
            "Invalid filter clause: A binary operator with incompatible types was detected. "
            f"Found operand types '{_EDM[spec.kind]}' and '{_EDM.get(literal.kind, 'Edm.Null')}' "
            f"for operator kind '{_OPERATOR_KIND.get(op, 'Equal')}'."
        )


# --- evaluation ---------------------------------------------------------------------------


def _evaluate(node: Node, record: Record) -> bool:
    if isinstance(node, Junction):
        if node.op == "and":
            return _evaluate(node.left, record) and _evaluate(node.right, record)
        return _evaluate(node.left, record) or _evaluate(node.right, record)
    if isinstance(node, Negation):
        return not _evaluate(node.operand, record)
    if isinstance(node, Comparison):
        return _compare(node.op, _lookup(record, node.path), node.literal.value)
    if isinstance(node, Membership):
        value = _lookup(record, node.path)
        return any(_compare("eq", value, lit.value) for lit in node.literals)
    return _text_match(node, _lookup(record, node.path))


def _lookup(record: Record, path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        value = _get_folded(value, part) if isinstance(value, Mapping) else None
    return value


def _get_folded(mapping: Mapping[str, Any], name: str) -> Any:
    for key, value in mapping.items():
        if key.casefold() == name.casefold():
            return value
    return None


def _comparable(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "ge": lambda a, b: a >= b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
}


def _compare(op: str, value: Any, literal: Any) -> bool:
    """Directory string comparisons ignore case; a null value matches only `eq null`."""
    left, right = _comparable(value), _comparable(literal)
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None or isinstance(left, datetime) != isinstance(right, datetime):
        return False
    return _ORDERINGS[op](left, right)


def _text_match(node: TextMatch, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    text, prefix = value.casefold(), str(node.literal.value).casefold()
    return text.startswith(prefix) if node.function == "startswith" else text.endswith(prefix)
