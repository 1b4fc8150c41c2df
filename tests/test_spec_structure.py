"""The TLA+ spec parses, and names the same variables, actions and invariants as the model."""

from __future__ import annotations

from functools import cache
from typing import Any

import tla
from pbjoin_model.protocol.config import SPEC_DIR
from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import ACTION_NAMES, VARIABLES


@cache
def spec_units() -> list[Any]:
    tree = tla.parse((SPEC_DIR / "JoinProtocol.tla").read_text())
    assert tree.name == "JoinProtocol"
    return list(tree.units)


def definitions() -> dict[str, int]:
    return {u.name: u.arity for u in spec_units() if type(u).__name__ == "OperatorDefinition"}


def test_spec_parses_and_declares_the_models_variables() -> None:
    declared = [v.operator for u in spec_units() if type(u).__name__ == "Variables" for v in u.names]
    assert declared == list(VARIABLES)


def test_every_model_action_is_a_spec_action() -> None:
    defs = definitions()
    for name in ACTION_NAMES:
        assert name in defs, f"spec lacks action {name}"


def test_every_model_invariant_is_a_spec_operator() -> None:
    defs = definitions()
    for name, _ in INVARIANTS:
        assert name in defs, f"spec lacks invariant {name}"
    for name in ("Init", "Next", "Spec", "vars", "Symmetry"):
        assert name in defs
