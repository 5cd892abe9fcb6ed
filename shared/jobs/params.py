"""Job parameters: frozen dataclasses that pydantic validates and describes as JSON Schema.

A params class (a `Params` dataclass) gives each field's description and constraints in
`field(metadata=spec(...))`, and format rules in an operator's words as `Annotated[str, Rule(...)]`.
Neither needs pydantic to define: it is imported, and each class's validator built, on the first
parse or schema, so `import function_app` (every cold start) stays as fast as it was
(docs/decisions.md#job-parameters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, TypeAdapter
    from pydantic_core import CoreSchema, ErrorDetails

#: pydantic error type -> how we say it after the field's name
_WORDING = {
    "missing": "is required",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "tuple_type": "must be a list",
    "literal_error": "must be one of {expected}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "range": "must be between {ge} and {le}",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "too_long": "must have at most {max_length} items",
}


class Params:
    """Base of every job's params dataclass: an unknown field is an error, not ignored."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}


def spec(description: str, **constraints: Any) -> dict[str, Any]:
    """A field's metadata, read by pydantic as `Field(...)` arguments: its description and rules.

    Integer and boolean fields say `strict=True`: JSON types as declared (90, not "90"; true, not
    1). Strings, lists and choices need not: pydantic never makes those from other JSON types.
    """
    return {"description": description, **constraints}


@dataclass(frozen=True)
class Rule:
    """A format rule for a value, and what is wrong with the field when the value breaks it.

    Put it in `Annotated[str, Rule(...)]` (on a field, or on a tuple's item type): pydantic calls
    `__get_pydantic_core_schema__` when it builds the validator, so defining one needs no pydantic.
    """

    holds: Callable[[Any], object]
    problem: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def _check(self, value: Any) -> Any:
        if not self.holds(value):
            raise ValueError(self.problem)
        return value


def validate(kind: type[Any], raw: Mapping[str, Any]) -> tuple[Any | None, list[str]]:
    """An instance of params class `kind` from JSON input, or every problem, each naming a field."""
    if not isinstance(raw, Mapping):  # JSON can carry anything where an object belongs
        return None, [f"params must be a JSON object, got {type(raw).__name__}"]  # type: ignore[unreachable]
    from pydantic import ValidationError

    try:
        return _adapter(kind).validate_python(raw), []
    except ValidationError as exc:
        rules = {declared.name: declared.metadata for declared in dataclasses.fields(kind)}
        problems = [_problem(error, rules) for error in exc.errors()]
        return None, list(dict.fromkeys(problems))  # one line per field, not per bad item


def schema(kind: type[Any]) -> dict[str, Any]:
    """Params class `kind` as JSON Schema: each field's type, description, default and rules."""
    return _adapter(kind).json_schema()


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(kind: type[Any]) -> TypeAdapter[Any]:
    """Building a class's validator costs ~1 ms: once per process is enough."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def _problem(error: ErrorDetails, rules: Mapping[str, Mapping[str, Any]]) -> str:
    """One bad field in our words; `rules` (each field's spec) lets a range say both ends."""
    name = str(error["loc"][0]) if error["loc"] else "params"
    kind, context = error["type"], {**rules.get(name, {}), **(error.get("ctx") or {})}
    if kind == "unexpected_keyword_argument":
        return f"unknown field {name!r}"
    if kind == "value_error":  # a Rule's own words
        return f"{name} {context['error']}"
    if kind in ("greater_than_equal", "less_than_equal") and {"ge", "le"} <= context.keys():
        kind = "range"
    wording = _WORDING.get(kind)
    if wording is None:
        return f"{name}: {error['msg']}"
    where = f"{name} items:" if len(error["loc"]) > 1 else name
    return f"{where} {wording.format(**context)}"
