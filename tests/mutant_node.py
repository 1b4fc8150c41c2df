"""`pbjoin` with a mutant member in place of the real one, for running the etcd tests on a mutant.

    python tests/mutant_node.py MUTANT node --group g ...

MUTANT names a member mutant of tests/impl_mutants.py; the rest is `pbjoin`'s command line.
tests/etcd_cluster.py starts its member processes this way when PBJOIN_TEST_MUTANT is set
(bench/adequacy.py's etcd method).
"""

from __future__ import annotations

import sys

from impl_mutants import DATA_PATH_MUTANTS, MUTANTS

import pbjoin.etcd.node
from pbjoin.cli.main import main

if __name__ == "__main__":
    pbjoin.etcd.node.Member = {**MUTANTS, **DATA_PATH_MUTANTS}[sys.argv[1]]  # type: ignore[assignment,attr-defined]
    sys.exit(main(sys.argv[2:]))
