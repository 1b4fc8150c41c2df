"""The protocol model: spec/JoinProtocol.tla as an explicit state machine, name for name.

`machine` (states, actions, successors, mutants), `invariants` (the spec's safety
properties as predicates), `symmetry` (canonical states under node permutations),
`encoding` (states as bytes, and their fingerprints), `expansion` (the explorer's inner
step: successors with their keys, and the first violated invariant), `state_graph` (the
liveness checker's graph and its strongly connected components), `config` (the spec's `MC_*.cfg`
files), `tla_values` and `spec_state` (states as the TLA+ values TLC prints). Imports
nothing else of pbjoin_model, and never `pbjoin`.

`make native` compiles the hot modules with mypyc (model/build_native.py). They are used
only while every source still hashes as it did when compiled, and not when PBJOIN_PURE is
set; otherwise the sources are loaded, so the pure-Python path is always the fallback.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

# Compiled by `make native`, in import order: each imports only the ones before it.
NATIVE_MODULES = ("machine", "invariants", "symmetry", "encoding", "expansion", "state_graph")
NATIVE_RECORD = "native.json"  # source hashes at compile time
PURE_ENV = "PBJOIN_PURE"

_HERE = Path(__file__).parent


def _compiled_present() -> bool:
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return any((_HERE / f"{name}{suffix}").exists() for name in NATIVE_MODULES for suffix in suffixes)


def _compiled_current() -> bool:
    """Whether the compiled modules were built from the sources as they are now."""
    try:
        record = json.loads((_HERE / NATIVE_RECORD).read_text())
    except (OSError, ValueError):
        return False
    return all(
        record.get(name) == hashlib.sha256((_HERE / f"{name}.py").read_bytes()).hexdigest() for name in NATIVE_MODULES
    )


def _load_sources() -> None:
    """Import the hot modules from their .py files, past the extension modules beside them."""
    for name in NATIVE_MODULES:
        spec = importlib.util.spec_from_file_location(f"{__name__}.{name}", _HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        setattr(sys.modules[__name__], name, module)


NATIVE = _compiled_present() and not os.environ.get(PURE_ENV) and _compiled_current()
if _compiled_present() and not NATIVE:
    _load_sources()
