"""Compile the model's hot modules with mypyc, in place (`make native`; `make pure` removes them).

The compiled modules sit beside their sources as extension modules, which Python imports in
preference to the .py files. `native.json` records a hash of each source as compiled:
`pbjoin_model.protocol` loads the sources instead whenever one has changed since, so a stale
build is never run. Run from model/: python build_native.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mypyc.build import mypycify
from pbjoin_model.protocol import NATIVE_MODULES, NATIVE_RECORD
from setuptools import setup

PACKAGE = Path("pbjoin_model/protocol")


def main() -> None:
    sources = [PACKAGE / f"{name}.py" for name in NATIVE_MODULES]
    extensions = mypycify([str(s) for s in sources], group_name="pbjoin_model.protocol.native", opt_level="3")
    setup(name="pbjoin-model-native", ext_modules=extensions, script_args=["build_ext", "--inplace"])
    record = {s.stem: hashlib.sha256(s.read_bytes()).hexdigest() for s in sources}
    (PACKAGE / NATIVE_RECORD).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
