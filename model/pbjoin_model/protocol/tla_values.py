"""TLA+ values in Python, and a parser and printer for TLC's value syntax.

These are the values of spec/JoinProtocol.tla as TLC prints them and as ITF files
carry them: integers, booleans, strings, model values (`n1`, `NoNode`), sequences
(`<<a, b>>`, also tuples), sets, records (`[a |-> 1]`) and functions
(`(n1 :> 1 @@ n2 :> 2)`). `parse_value` reads TLC's syntax; `show` prints it back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class ModelValue:
    """A TLC model value: an uninterpreted constant such as n1 or NoNode."""

    name: str


class _Mapping:
    """An immutable, hashable mapping whose equality ignores order (as in TLA+)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[Key, Value]]) -> None:
        self._items: dict[Key, Value] = dict(items)

    def __getitem__(self, key: Key) -> Value:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[Key]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> Iterable[tuple[Key, Value]]:
        return self._items.items()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, _Mapping) and self._items == other._items

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._items)!r})"


class Record(_Mapping):
    """A TLA+ record: a function from field names."""

    def __init__(self, fields: Mapping[str, Value] | Iterable[tuple[str, Value]]) -> None:
        super().__init__(fields.items() if isinstance(fields, Mapping) else fields)


class Fn(_Mapping):
    """A TLA+ function with a finite domain, other than a record or a sequence."""


# A sequence (or tuple) is a Python tuple, a set a frozenset.
Value: TypeAlias = bool | int | str | ModelValue | tuple["Value", ...] | frozenset["Value"] | Record | Fn
Key = Value


class TlaSyntaxError(ValueError):
    """Text that is not a TLA+ value in TLC's syntax."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<int>-?\d+)
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><<|>>|\|->|:>|@@|[{}\[\](),])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", '"': '"', "\\": "\\"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.lastgroup is None:
                raise TlaSyntaxError(f"unexpected {text[pos]!r} at offset {pos}")
            self.tokens.append((m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i == len(self.tokens):
            raise TlaSyntaxError("unexpected end of value" + (f", expected {expected!r}" if expected else ""))
        kind, text, offset = self.tokens[self.i]
        if expected is not None and text != expected:
            raise TlaSyntaxError(f"expected {expected!r} at offset {offset}, got {text!r}")
        self.i += 1
        return kind, text

    def items(self, close: str) -> list[Value]:
        """Comma-separated values up to `close` (consumed)."""
        out: list[Value] = []
        if self.peek() == close:
            self.take()
            return out
        while True:
            out.append(self.value())
            if self.peek() == ",":
                self.take()
                continue
            self.take(close)
            return out

    def value(self) -> Value:
        kind, text = self.take()
        if kind == "int":
            return int(text)
        if kind == "str":
            return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])
        if kind == "id":
            return {"TRUE": True, "FALSE": False}.get(text, ModelValue(text))
        if text == "<<":
            return tuple(self.items(">>"))
        if text == "{":
            return frozenset(self.items("}"))
        if text == "[":
            return self.record()
        if text == "(":
            return self.function()
        raise TlaSyntaxError(f"unexpected {text!r}")

    def record(self) -> Record:
        fields: dict[str, Value] = {}
        while True:
            kind, name = self.take()
            if kind != "id":
                raise TlaSyntaxError(f"expected a record field name, got {name!r}")
            if name in fields:
                raise TlaSyntaxError(f"record field {name!r} given twice")
            self.take("|->")
            fields[name] = self.value()
            if self.peek() == ",":
                self.take()
                continue
            self.take("]")
            return Record(fields)

    def function(self) -> Fn:
        pairs: dict[Value, Value] = {}
        while True:
            key = self.value()
            self.take(":>")
            if key in pairs:
                raise TlaSyntaxError(f"function argument {show(key)} given twice")
            pairs[key] = self.value()
            if self.peek() == "@@":
                self.take()
                continue
            self.take(")")
            return Fn(pairs.items())


def parse_value(text: str) -> Value:
    """One TLA+ value in TLC's output syntax."""
    parser = _Parser(text)
    value = parser.value()
    if parser.i != len(parser.tokens):
        raise TlaSyntaxError(f"unexpected {parser.peek()!r} after the value")
    return value


def show(v: Value) -> str:
    """TLC's syntax for a value (sets sorted, so the text is stable)."""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, ModelValue):
        return v.name
    if isinstance(v, tuple):
        return "<<" + ", ".join(show(x) for x in v) + ">>"
    if isinstance(v, frozenset):
        return "{" + ", ".join(sorted(show(x) for x in v)) + "}"
    if isinstance(v, Record):
        return "[" + ", ".join(f"{k} |-> {show(x)}" for k, x in v.items()) + "]"
    return "(" + " @@ ".join(f"{show(k)} :> {show(x)}" for k, x in v.items()) + ")"
