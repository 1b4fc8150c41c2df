"""The parser of TLA+ values in TLC's output syntax, and the printer."""

from __future__ import annotations

import pytest
from pbjoin_model.protocol.tla_values import Fn, ModelValue, Record, TlaSyntaxError, parse_value, show


def test_scalars() -> None:
    assert parse_value("42") == 42
    assert parse_value("-3") == -3
    assert parse_value("TRUE") is True
    assert parse_value("FALSE") is False
    assert parse_value('"waitState"') == "waitState"
    assert parse_value("n1") == ModelValue("n1")
    assert parse_value("NoView") == ModelValue("NoView")


def test_string_escapes() -> None:
    assert parse_value(r'"a \"quoted\" \\ word\n"') == 'a "quoted" \\ word\n'


def test_sequences_sets_records_functions() -> None:
    assert parse_value("<<>>") == ()
    assert parse_value("<<<<>>, <<n1>>>>") == ((), (ModelValue("n1"),))
    assert parse_value("{}") == frozenset()
    assert parse_value("{2, 1, 2}") == frozenset({1, 2})
    rec = parse_value('[kind |-> "JOIN", node |-> n2, rset |-> {}]')
    assert rec == Record({"kind": "JOIN", "node": ModelValue("n2"), "rset": frozenset()})
    fn = parse_value('(n1 :> "out" @@ n2 :> "member")')
    assert isinstance(fn, Fn)
    assert fn[ModelValue("n2")] == "member" and len(fn) == 2
    assert parse_value("(<<n1, n2>> :> <<>>)") == Fn([((ModelValue("n1"), ModelValue("n2")), ())])


def test_record_and_function_equality_ignores_order() -> None:
    assert parse_value("[a |-> 1, b |-> 2]") == parse_value("[b |-> 2, a |-> 1]")
    assert parse_value("(n1 :> 1 @@ n2 :> 2)") == parse_value("(n2 :> 2 @@ n1 :> 1)")
    assert hash(parse_value("(n1 :> 1 @@ n2 :> 2)")) == hash(parse_value("(n2 :> 2 @@ n1 :> 1)"))
    assert parse_value("[a |-> 1]") != parse_value("[a |-> 2]")


def test_tlc_multiline_layout() -> None:
    """TLC breaks long values over indented lines; whitespace is insignificant."""
    text = """( n1 :>
      [ inc |-> (n1 :> 0 @@ n2 :> 0),
        prim |-> 1,
        sub |-> <<<<n1>>, <<>>>> ] @@
  n2 :> NoView )"""
    v = parse_value(text)
    assert isinstance(v, Fn)
    view = v[ModelValue("n1")]
    assert isinstance(view, Record) and view["sub"] == ((ModelValue("n1"),), ())
    assert v[ModelValue("n2")] == ModelValue("NoView")


@pytest.mark.parametrize(
    "text",
    [
        '(n1 :> 1 @@ n2 :> [a |-> {1, 2}, b |-> <<"x", TRUE>>])',
        '<<[kind |-> "FAIL", node |-> n1, inc |-> 0, res |-> 0, rset |-> {}]>>',
        "{<<n1, n2>>, <<n2, n1>>}",
    ],
)
def test_show_round_trips(text: str) -> None:
    v = parse_value(text)
    assert parse_value(show(v)) == v


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unexpected end"),
        ("<<1, 2", "unexpected end"),
        ("[a |-> 1, a |-> 2]", "given twice"),
        ("(n1 :> 1 @@ n1 :> 2)", "given twice"),
        ("[1 |-> 2]", "record field name"),
        ("(n1 |-> 1)", "expected ':>'"),
        ("1 2", "after the value"),
        ("<<1 ; 2>>", "unexpected ';'"),
        ('"unterminated', "unexpected"),
        (">>", "unexpected '>>'"),
    ],
)
def test_bad_input_is_a_syntax_error(text: str, message: str) -> None:
    with pytest.raises(TlaSyntaxError, match=message):
        parse_value(text)
