"""Z3 proofs and bounded model checking of the protocol model.

`encoding` (the group-state and configuration levels of the inductive invariant over
uninterpreted sorts), `stream` (the stream level: views as prefixes of one ordered
stream), `indinv` (IndInv as a predicate on model states, to test it on reachable
states), `cti` (counterexamples to induction decoded into model values), `prove` (the
obligations and their verdicts), `simulation` (every step of the model as a step of the
three encodings, and the model steps that witness each obligation's premises),
`symbolic` and `symbolic_invariants` (the exact model as Z3 terms), `bmc` (bounded
model checking over them). Imports `protocol`, `explorer` and `traces`; nothing here
imports `prove` but the command line.
"""
