"""Explicit-state exploration of the protocol model.

`bfs` (breadth-first search: every reachable state, shortest counterexamples), `parallel`
(the same search partitioned among processes), `liveness` (fair cycles on the full state
graph), `simulate` (random walks). Imports only `pbjoin_model.protocol`.
"""
