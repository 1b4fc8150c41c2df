"""The bridge between the protocol model and the implementation: the only code that imports both.

`refinement` (the refinement mapping from the implementation's state to a model state,
and step-by-step validation of a step log), `logs` (one log per member merged into one
behaviour), `check_log` (step-log files checked, for `pbjoin conform` and `pbjoin demo`),
`replay` (every model behaviour up to a depth replayed on the in-memory engine), `trace`
(a model trace run on the implementation, and a step log turned into a model trace).
Imports `pbjoin` and every subpackage above but `proofs`.
"""
