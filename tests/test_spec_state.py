"""The model's states as the spec's variables and back: exact, and strict on bad values."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from pbjoin_model.explorer.bfs import reachable
from pbjoin_model.protocol.machine import VARIABLES, Params, State, initial_states, successors
from pbjoin_model.protocol.spec_state import TraceError, decode_state, spec_state
from pbjoin_model.protocol.tla_values import Fn, ModelValue, Record, Value, parse_value, show
from pbjoin_model.traces.render import state_to_json
from pbjoin_model.traces.trace import _json_state

SMALL = Params(nodes=2, resources=2)


def sample_states(p: Params, every: int) -> list[State]:
    return list(itertools.islice(reachable(p, symmetry=True), 0, None, every))


def test_every_sampled_reachable_state_round_trips() -> None:
    """Through the spec's values, TLC's text syntax and the checker's JSON alike."""
    states = sample_states(SMALL, 9)
    assert len(states) > 400
    for s in states:
        values = spec_state(s)
        assert list(values) == list(VARIABLES)
        assert decode_state(values, SMALL) == s
        assert decode_state({k: parse_value(show(v)) for k, v in values.items()}, SMALL) == s
        assert _json_state(state_to_json(s), SMALL) == s


def test_values_are_those_tlc_prints() -> None:
    s = next(initial_states(SMALL))
    s = next(t for t in successors(s, SMALL) if t.action == "Join").state
    v = spec_state(s)
    assert show(v["phase"]) == '(n1 :> "waitState" @@ n2 :> "out")'
    assert show(v["durable"]).startswith("[prim |-> 1, sub |-> (1 :> <<>> @@ 2 :> <<>>), host |-> (1 :> NoNode")
    assert show(v["chan"]) == "(<<n1, n1>> :> <<>> @@ <<n1, n2>> :> <<>> @@ <<n2, n1>> :> <<>> @@ <<n2, n2>> :> <<>>)"
    assert v["dataCurrent"] == Fn([(1, True), (2, False)])


def test_functions_over_resources_may_be_sequences() -> None:
    """TLC prints [Res -> X] as <<...>>; decoding accepts that form too."""
    s = next(initial_states(SMALL))
    v = spec_state(s)
    v["resVer"] = (1, 1)
    v["dataCurrent"] = (True, False)
    assert decode_state(v, SMALL) == s


def _set_view(v: dict[str, Value], node: str, gs: Value) -> None:
    view = v["view"]
    assert isinstance(view, Fn)
    v["view"] = Fn([*((k, x) for k, x in view.items() if k != ModelValue(node)), (ModelValue(node), gs)])


def _durable_with(v: dict[str, Value], field: str, value: Value) -> Record:
    durable = v["durable"]
    assert isinstance(durable, Record)
    return Record({**{str(k): x for k, x in durable.items()}, field: value})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v.pop("inc"), "missing variable inc"),
        (lambda v: v.update(extra=1), "unknown variable 'extra'"),
        (lambda v: v.update(crashes=-1), "crashes: expected a natural number, got -1"),
        (lambda v: v.update(crashes=True), "crashes: expected a natural number"),
        (lambda v: v.update(phase=parse_value('(n1 :> "out" @@ n3 :> "out")')), "phase argument: expected a node"),
        (lambda v: v.update(phase=parse_value('(n1 :> "out")')), "phase: expected a function over the 2 nodes"),
        (
            lambda v: v.update(phase=parse_value('(n1 :> "out" @@ n2 :> "gone")')),
            'phase\\[n2\\]: expected one of "out"',
        ),
        (
            lambda v: v.update(access=parse_value("(n1 :> {3} @@ n2 :> {})")),
            r"access\[n1\] element: expected a resource",
        ),
        (lambda v: v.update(resVer=(1, 1, 1)), "resVer: expected a function over 1..2"),
        (lambda v: v.update(dataCurrent=(1, 0)), r"dataCurrent\[1\]: expected TRUE or FALSE"),
        (lambda v: v.update(log=parse_value('<<[kind |-> "JOIN", node |-> n1]>>')), r"log\[1\]: expected a record"),
        (lambda v: v.update(durable=_durable_with(v, "host", (ModelValue("n9"), ModelValue("NoNode")))), "host"),
        (lambda v: _set_view(v, "n1", ModelValue("Nothing")), r"view\[n1\]: expected NoView or a group state"),
        (lambda v: v.update(chan=Fn([])), "chan: expected a function over the 4 pairs"),
    ],
)
def test_bad_values_are_reported_with_their_path(change: Callable[[dict[str, Value]], object], message: str) -> None:
    v = spec_state(next(initial_states(SMALL)))
    change(v)
    with pytest.raises(TraceError, match=message):
        decode_state(v, SMALL)


def test_unused_message_fields_must_be_zero() -> None:
    """A GROUP_STATE with a version is not a message the model can send: it is rejected, not dropped."""
    s = next(initial_states(SMALL))
    v = spec_state(s)
    gs = show(spec_state(s)["durable"])
    v["chan"] = parse_value(
        "(<<n1, n1>> :> <<>> @@ <<n2, n1>> :> <<>> @@ <<n2, n2>> :> <<>> @@ <<n1, n2>> :> "
        f'<<[kind |-> "GROUP_STATE", res |-> 0, ver |-> 3, gs |-> {gs}, cur |-> 0, data |-> <<>>, ep |-> 0]>>)'
    )
    with pytest.raises(TraceError, match=r"chan\[<<n1, n2>>\]\[1\]\.ver: expected 0 \(unused field\), got 3"):
        decode_state(v, SMALL)
