"""The Python worker's checks of a function's annotations while it indexes the app.

The worker (azure-functions-python-worker `functions.py`, azure-functions-runtime for Python
3.13) resolves every function's annotations with `typing.get_type_hints`, and then checks each
against its binding with the converters of `azure.functions`: the trigger parameter's type
(`check_input_type_annotation`) and, for a `$return` binding, the return type
(`check_output_type_annotation`). A failure is a FunctionLoadError and the app loads nothing.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import azure.functions as func

from devtools.devhost.config import DevHostError

#: A trigger parameter annotated str or bytes gets the raw payload from the worker; the dev
#: host hands every trigger its azure.functions object, so it refuses those annotations.
RAW_TYPES = (str, bytes)


def resolve_annotations(functions: Sequence[func.Function]) -> None:
    """Resolve every function's annotations as the worker does while indexing, or refuse the app.

    The worker stops at the first function whose `typing.get_type_hints` raises and loads none
    (its WorkerInitResponse fails with that error), so the dev host refuses the whole app too.
    """
    for function in functions:
        try:
            typing.get_type_hints(function.get_user_function())
        except Exception as error:
            raise DevHostError(
                [
                    f"function {function.get_function_name()}: typing.get_type_hints raised "
                    f"{type(error).__name__}: {error}; the Python worker indexes no function "
                    "of this app (is an annotation imported only under TYPE_CHECKING?)"
                ]
            ) from error


def annotation_problems(
    name: str,
    callable: Callable[..., Any],
    trigger: Mapping[str, Any],
    returned: Mapping[str, Any] | None,
) -> list[str]:
    """What the worker's FunctionLoadError would say about these annotations (and the raw types
    the dev host does not pass); `returned` is the `$return` binding, if any."""
    hints = typing.get_type_hints(callable)
    problems = []
    parameter = str(trigger.get("name"))
    if parameter in hints:
        problems += _input_problems(parameter, hints[parameter], str(trigger.get("type")))
    if returned is not None and "return" in hints:
        problems += _return_problems(hints["return"], str(returned.get("type")))
    return [f"function {name}: {problem}" for problem in problems]


def _input_problems(parameter: str, annotation: Any, binding_type: str) -> list[str]:
    if not isinstance(annotation, type):
        return [f"binding {parameter} has invalid non-type annotation {annotation!r}"]
    if issubclass(annotation, RAW_TYPES):
        return [
            f"parameter {parameter} is annotated {annotation.__name__}: the worker would pass "
            "the raw payload, the dev host passes the azure.functions object; annotate it so"
        ]
    converter = _converter(binding_type)
    if converter is not None and not converter.check_input_type_annotation(annotation):
        return [
            f'type of {parameter} binding in the binding decorator "{binding_type}" does not '
            f'match its Python annotation "{annotation.__name__}"'
        ]
    return []


def _return_problems(annotation: Any, binding_type: str) -> list[str]:
    if not isinstance(annotation, type):
        return [f"has invalid non-type return annotation {annotation!r}"]
    converter = _converter(binding_type)
    if converter is not None and not converter.check_output_type_annotation(annotation):
        return [
            f'Python return annotation "{annotation.__name__}" does not match binding type '
            f'"{binding_type}"'
        ]
    return []


def _converter(binding_type: str) -> Any:
    """azure.functions' converter for a binding type (None for one it does not know)."""
    registry = func.get_binding_registry()  # type: ignore[no-untyped-call]
    return registry.get(binding_type)
