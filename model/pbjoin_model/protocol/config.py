"""Model configurations, read from the TLC `.cfg` files next to the spec.

The spec's `MC_*.cfg` files are the one place where a configuration's constants
live: the Python checker reads the same files TLC runs, so both check the same
thing. Only the subset of the cfg grammar that those files use is accepted;
anything else is a `ConfigError` with a one-line reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import Mutant, Params

# spec/ ships inside the wheel as the package `pbjoin_model.spec` (see pyproject.toml), so an
# installed pbjoin finds the same .tla and .cfg files as a checkout, from any directory.
SPEC_DIR = Path(str(resources.files("pbjoin_model.spec")))
NAMED = {
    "small": "MC_small.cfg",
    "default": "MC_default.cfg",
    "failures": "MC_failures.cfg",
    "reference": "MC_reference.cfg",
    "writes": "MC_writes.cfg",
    "resources": "MC_resources.cfg",
}
_KEYWORDS = {
    "CONSTANT",
    "CONSTANTS",
    "INIT",
    "NEXT",
    "SPECIFICATION",
    "INVARIANT",
    "INVARIANTS",
    "PROPERTY",
    "PROPERTIES",
    "SYMMETRY",
    "CHECK_DEADLOCK",
    "CONSTRAINT",
    "CONSTRAINTS",
}
_NUMERIC = ("NumRes", "MaxFailures", "MaxRestarts", "MaxConfigChanges", "MaxWrites")
# Constants a configuration written before they existed may leave out, with their value then.
_OPTIONAL_NUMERIC = {"MaxResourceFailures": 0}
_MODEL_VALUES = {"NoNode", "NoView"}


class ConfigError(ValueError):
    """A configuration that cannot be used, with a one-line reason."""


@dataclass(frozen=True)
class ModelConfig:
    name: str
    path: Path | None
    params: Params
    invariants: tuple[str, ...]
    symmetry: bool


def resolve(name_or_path: str) -> Path:
    if name_or_path in NAMED:
        return SPEC_DIR / NAMED[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"no such configuration: {name_or_path!r} (use {', '.join(NAMED)} or a .cfg path)")
    return path


def load(name_or_path: str) -> ModelConfig:
    path = resolve(name_or_path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return parse(text, name=name_or_path, path=path)


def parse(text: str, name: str = "<text>", path: Path | None = None) -> ModelConfig:
    text = re.sub(r"\(\*.*?\*\)", " ", text, flags=re.S)
    text = re.sub(r"\\\*[^\n]*", " ", text)
    tokens = re.findall(r"<-|\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*|-?\d+|=|\S", text)
    constants: dict[str, str] = {}
    invariants: list[str] = []
    symmetry = False
    section = ""
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _KEYWORDS:
            section = tok
            i += 1
            continue
        if section in ("CONSTANT", "CONSTANTS"):
            if i + 1 < len(tokens) and tokens[i + 1] not in ("=", "<-"):
                raise ConfigError(f"{name}: expected '=' after constant {tok!r}")
            if i + 2 >= len(tokens):
                raise ConfigError(f"{name}: incomplete constant definition at {tok!r}")
            constants[tok] = tokens[i + 2]
            i += 3
        elif section in ("INVARIANT", "INVARIANTS"):
            invariants.append(tok)
            i += 1
        elif section == "SYMMETRY":
            symmetry = True
            i += 1
        elif section in ("INIT", "NEXT", "CHECK_DEADLOCK", "SPECIFICATION", "PROPERTY", "PROPERTIES"):
            i += 1
        else:
            raise ConfigError(f"{name}: unexpected {tok!r} outside any section")
    return ModelConfig(name, path, _params(constants, name), _invariants(invariants, name), symmetry)


def _params(constants: dict[str, str], name: str) -> Params:
    if "Node" not in constants:
        raise ConfigError(f"{name}: missing constant Node")
    node_set = constants["Node"]
    if not (node_set.startswith("{") and node_set.endswith("}")):
        raise ConfigError(f"{name}: Node must be a set of model values like {{n1, n2}}, got {node_set!r}")
    members = [m.strip() for m in node_set[1:-1].split(",") if m.strip()]
    if len(set(members)) != len(members) or not all(re.fullmatch(r"[A-Za-z_]\w*", m) for m in members):
        raise ConfigError(f"{name}: Node must list distinct model values, got {node_set!r}")
    values: dict[str, int] = {}
    for const in (*_NUMERIC, *_OPTIONAL_NUMERIC):
        if const not in constants:
            if const in _OPTIONAL_NUMERIC:
                values[const] = _OPTIONAL_NUMERIC[const]
                continue
            raise ConfigError(f"{name}: missing constant {const}")
        if not re.fullmatch(r"\d+", constants[const]):
            raise ConfigError(f"{name}: {const} must be a natural number, got {constants[const]!r}")
        values[const] = int(constants[const])
    unknown = set(constants) - {"Node", *_NUMERIC, *_OPTIONAL_NUMERIC, *_MODEL_VALUES}
    if unknown:
        raise ConfigError(f"{name}: unknown constant {sorted(unknown)[0]!r}")
    try:
        return params_from_constants(len(members), values)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def params_from_constants(nodes: int, numbers: Mapping[str, int], mutant: Mutant = Mutant.NONE) -> Params:
    """Params from the spec's numeric constants by their TLA+ names; ValueError when out of range."""
    return Params(
        nodes=nodes,
        resources=numbers["NumRes"],
        max_failures=numbers["MaxFailures"],
        max_restarts=numbers["MaxRestarts"],
        max_config_changes=numbers["MaxConfigChanges"],
        max_writes=numbers["MaxWrites"],
        max_resource_failures=numbers.get("MaxResourceFailures", 0),
        mutant=mutant,
    )


def _invariants(names: list[str], name: str) -> tuple[str, ...]:
    known = [n for n, _ in INVARIANTS]
    for inv in names:
        if inv not in known:
            raise ConfigError(f"{name}: unknown invariant {inv!r}")
    return tuple(names) if names else tuple(known)


def with_overrides(
    cfg: ModelConfig,
    nodes: int | None = None,
    resources: int | None = None,
    max_failures: int | None = None,
    max_restarts: int | None = None,
    max_config_changes: int | None = None,
    max_writes: int | None = None,
    max_resource_failures: int | None = None,
) -> ModelConfig:
    """The configuration with some constants replaced (None leaves one as it is)."""
    p = cfg.params
    try:
        params = Params(
            nodes=p.nodes if nodes is None else nodes,
            resources=p.resources if resources is None else resources,
            max_failures=p.max_failures if max_failures is None else max_failures,
            max_restarts=p.max_restarts if max_restarts is None else max_restarts,
            max_config_changes=p.max_config_changes if max_config_changes is None else max_config_changes,
            max_writes=p.max_writes if max_writes is None else max_writes,
            max_resource_failures=(p.max_resource_failures if max_resource_failures is None else max_resource_failures),
            mutant=p.mutant,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return replace(cfg, params=params)
