"""Configurations come from the spec's TLC .cfg files."""

from __future__ import annotations

import pytest
from pbjoin_model.protocol.config import NAMED, SPEC_DIR, ConfigError, load, parse, with_overrides
from pbjoin_model.protocol.invariants import INVARIANTS


@pytest.mark.parametrize("name", list(NAMED))
def test_named_configurations_load(name: str) -> None:
    cfg = load(name)
    assert cfg.path == SPEC_DIR / NAMED[name]
    assert cfg.symmetry
    assert cfg.invariants == tuple(n for n, _ in INVARIANTS)


def test_default_configuration_meets_the_minimum() -> None:
    p = load("default").params
    assert p.nodes >= 3 and p.resources >= 2
    assert p.max_failures >= 1 and p.max_restarts >= 1 and p.max_config_changes >= 1


def test_failures_configuration_has_two_failures_and_a_restart() -> None:
    p = load("failures").params
    assert p.nodes >= 3 and p.resources >= 2 and p.max_failures >= 2 and p.max_restarts >= 1


def test_reference_configuration_meets_the_minimum() -> None:
    p = load("reference").params
    assert p.nodes >= 4 and p.resources >= 3


GOOD = """\\* comment
CONSTANTS
  Node = {a, b, c}
  NumRes = 2 MaxFailures = 1
  MaxRestarts = 0
  MaxConfigChanges = 2
  MaxWrites = 0
  NoNode = NoNode
INIT Init NEXT Next
INVARIANT NoSplitBrain
(* block
   comment *)
"""


def test_parse_reads_constants_invariants_and_symmetry() -> None:
    cfg = parse(GOOD)
    assert (cfg.params.nodes, cfg.params.resources) == (3, 2)
    assert (cfg.params.max_failures, cfg.params.max_restarts, cfg.params.max_config_changes) == (1, 0, 2)
    assert cfg.invariants == ("NoSplitBrain",)
    assert not cfg.symmetry


@pytest.mark.parametrize(
    "text, message",
    [
        ("CONSTANTS NumRes = 2", "missing constant Node"),
        ("CONSTANTS Node = 3", "Node must be a set of model values"),
        ("CONSTANTS Node = {a, a}", "Node must list distinct model values"),
        ("CONSTANTS Node = {a} NumRes = 1 MaxFailures = 0 MaxRestarts = 0", "missing constant MaxConfigChanges"),
        (
            "CONSTANTS Node = {a} NumRes = 1 MaxFailures = 0 MaxRestarts = 0 MaxConfigChanges = 0",
            "missing constant MaxWrites",
        ),
        (
            "CONSTANTS Node = {a} NumRes = 1 MaxFailures = 0 MaxRestarts = 0 MaxConfigChanges = 0 MaxWrites = 99",
            "max_writes must be between 0 and 16",
        ),
        (
            "CONSTANTS Node = {a} NumRes = 1 MaxFailures = 0 MaxRestarts = 0 MaxConfigChanges = 0 MaxWrites = 0 "
            "Foo = 1",
            "unknown constant 'Foo'",
        ),
        (
            "CONSTANTS Node = {a} NumRes = 0 MaxFailures = 0 MaxRestarts = 0 MaxConfigChanges = 0 MaxWrites = 0",
            "resources must be between 1 and 16",
        ),
        (
            "CONSTANTS Node = {a} NumRes = 1 MaxFailures = 0 MaxRestarts = 0 MaxConfigChanges = 0 MaxWrites = 0 "
            "INVARIANT Nonsense",
            "unknown invariant 'Nonsense'",
        ),
        ("Node = {a}", "unexpected 'Node' outside any section"),
        ("CONSTANTS Node {a}", "expected '=' after constant 'Node'"),
        ("CONSTANTS Node =", "incomplete constant definition"),
    ],
)
def test_malformed_configurations_are_rejected_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_overrides_replace_constants_and_validate() -> None:
    cfg = with_overrides(load("small"), nodes=3, resources=None)
    assert cfg.params.nodes == 3 and cfg.params.resources == load("small").params.resources
    with pytest.raises(ConfigError, match="nodes must be between"):
        with_overrides(cfg, nodes=99)
