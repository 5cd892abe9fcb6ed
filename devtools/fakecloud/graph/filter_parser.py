"""$filter text to a syntax tree: a small tokenizer and a recursive-descent parser.

Grammar (the OData subset Graph's directory accepts, keywords case-insensitive):

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | primary
    primary    := "(" expr ")" | call | comparison
    call       := NAME "(" PATH "," literal ")"            startswith / endswith
    comparison := PATH OP literal | PATH "in" "(" literal ("," literal)* ")"
    literal    := 'string' | true | false | null | 2024-01-31[T10:00:00Z] | number

What the tree *means* (which property supports which operator) is checked elsewhere
(filter_eval); this module only rejects text that is not a filter at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devtools.fakecloud.graph.errors import GraphError, bad_request, not_emulated, unsupported_query
from devtools.fakecloud.graph.model import parse_datetime

COMPARISON_OPS = ("eq", "ne", "ge", "le", "gt", "lt")
_TEXT_FUNCTIONS = ("startswith", "endswith")
# OData functions Graph's directory refuses with Request_UnsupportedQuery.
_REFUSED_FUNCTIONS = frozenset(
    [
        "contains",
        "substringof",
        "tolower",
        "toupper",
        "trim",
        "length",
        "indexof",
        "substring",
        "concat",
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "date",
        "time",
        "now",
    ]
)

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>'(?:[^']|'')*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_$][\w$]*(?:/[A-Za-z_$][\w$]*)*)
      | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | datetime | number | name | punct | end
    text: str
    position: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string | datetime | number | bool | null
    value: Any


@dataclass(frozen=True)
class Comparison:
    path: str
    op: str  # one of COMPARISON_OPS
    literal: Literal


@dataclass(frozen=True)
class Membership:
    path: str
    literals: tuple[Literal, ...]


@dataclass(frozen=True)
class TextMatch:
    function: str  # "startswith" | "endswith"
    path: str
    literal: Literal


@dataclass(frozen=True)
class Negation:
    operand: Node


@dataclass(frozen=True)
class Junction:
    op: str  # "and" | "or"
    left: Node
    right: Node


Node = Comparison | Membership | TextMatch | Negation | Junction


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise _syntax_error(text, position)
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse_filter(text: str) -> Node:
    """Parse a $filter value; raise GraphError (400) when it is not well formed."""
    return _Parser(text).parse()


def _syntax_error(text: str, position: int) -> GraphError:
    return bad_request(f"Invalid filter clause: Syntax error at position {position} in '{text}'.")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    def parse(self) -> Node:
        node = self._or()
        if self._peek().kind != "end":
            raise self._error()
        return node

    # --- token helpers ------------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def _next(self) -> Token:
        token = self._peek()
        self.index += 1
        return token

    def _is_word(self, word: str, ahead: int = 0) -> bool:
        token = self._peek(ahead)
        return token.kind == "name" and token.text.casefold() == word

    def _expect(self, text: str) -> None:
        if self._peek().text != text:
            raise self._error()
        self.index += 1

    def _error(self) -> GraphError:
        return _syntax_error(self.text, self._peek().position)

    # --- grammar ------------------------------------------------------------------------

    def _or(self) -> Node:
        node = self._and()
        while self._is_word("or"):
            self.index += 1
            node = Junction("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._unary()
        while self._is_word("and"):
            self.index += 1
            node = Junction("and", node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._is_word("not"):
            self.index += 1
            return Negation(self._unary())
        return self._primary()

    def _primary(self) -> Node:
        if self._peek().text == "(":
            self.index += 1
            node = self._or()
            self._expect(")")
            return node
        if self._peek().kind != "name":
            raise self._error()
        if self._peek(1).text == "(":
            return self._call()
        return self._comparison()

    def _call(self) -> Node:
        name = self._next().text
        function = name.casefold()
        if function.endswith(("/any", "/all")):
            raise not_emulated("lambda operators (any/all) in $filter")
        if function in _REFUSED_FUNCTIONS:
            raise unsupported_query("Unsupported Query.")
        if function not in _TEXT_FUNCTIONS:
            raise bad_request(
                f"Invalid filter clause: An unknown function with name '{name}' was found."
            )
        self._expect("(")
        path = self._path()
        self._expect(",")
        literal = self._literal()
        self._expect(")")
        return TextMatch(function, path, literal)

    def _comparison(self) -> Node:
        path = self._path()
        operator = self._next()
        op = operator.text.casefold() if operator.kind == "name" else ""
        if op in COMPARISON_OPS:
            return Comparison(path, op, self._literal())
        if op == "in":
            return Membership(path, self._literal_list())
        self.index -= 1
        raise self._error()

    def _path(self) -> str:
        token = self._next()
        if token.kind != "name":
            self.index -= 1
            raise self._error()
        return token.text

    def _literal_list(self) -> tuple[Literal, ...]:
        self._expect("(")
        literals = [self._literal()]
        while self._peek().text == ",":
            self.index += 1
            literals.append(self._literal())
        self._expect(")")
        return tuple(literals)

    def _literal(self) -> Literal:
        token = self._next()
        if token.kind == "string":
            return Literal("string", token.text[1:-1].replace("''", "'"))
        if token.kind == "datetime":
            return self._datetime(token)
        if token.kind == "number":
            return Literal("number", float(token.text) if "." in token.text else int(token.text))
        keyword = token.text.casefold() if token.kind == "name" else ""
        if keyword in ("true", "false"):
            return Literal("bool", keyword == "true")
        if keyword == "null":
            return Literal("null", None)
        self.index -= 1
        raise self._error()

    def _datetime(self, token: Token) -> Literal:
        try:
            return Literal("datetime", parse_datetime(token.text))
        except ValueError:
            raise _syntax_error(self.text, token.position) from None
