"""Traces as data, and the views of them people read.

`trace` (the trace model and ITF files), `render` (states flattened to TLA+-like lines,
diffs, JSON), `text` and `html` (the `pbjoin trace show` and `view` pages), `tlc` and
`tlc_trace` (running TLC, reading its counts and counterexamples), `replay` (a trace
replayed on the model). Imports `protocol` and `explorer`.
"""
