"""pbjoin_model: the verification side of pbjoin — spec/JoinProtocol.tla as Python, and its checkers.

Subpackages, each importing only those listed before it (tests/test_layout.py enforces this):

- `protocol`  the protocol model: state machine, invariants, symmetry, the spec's values
              and configurations (the `.cfg` files ship in `pbjoin_model.spec`).
- `explorer`  explicit-state search: breadth-first (shortest counterexamples), parallel,
              liveness under fairness, random simulation.
- `traces`    traces as data: the trace model, ITF, TLC's output, text and HTML views,
              replay on the model.
- `proofs`    Z3: the inductive invariant for every size, its counterexamples to
              induction, the exact symbolic model and bounded model checking.
- `conformance` the bridge to the implementation (`pbjoin`): refinement mapping, trace
              validation of step logs, log merging, exhaustive replay. The only
              subpackage that imports `pbjoin`.
- `cli`       the verification commands, plugged into the one `pbjoin` command through
              the `pbjoin.commands` entry points.
"""
