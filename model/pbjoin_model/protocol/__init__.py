"""The protocol model: spec/JoinProtocol.tla as an explicit state machine, name for name.

`machine` (states, actions, successors, mutants), `invariants` (the spec's safety
properties as predicates), `symmetry` (canonical states under node permutations),
`config` (the spec's `MC_*.cfg` files), `tla_values` and `spec_state` (states as the
TLA+ values TLC prints). Imports nothing else of pbjoin_model, and never `pbjoin`.
"""
