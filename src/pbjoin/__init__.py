"""pbjoin: the production implementation of the join protocol (see README.md).

Layers, each importing only those above it:

- `wire`, `group`, `member`: the sans-IO member — messages, the group state and the
  member's state machine (fed delivered messages and failures; returns sends and effects).
- `resources`, `steplog`, `status`: resource drivers (directories standing in for disks),
  the step log of every protocol step, and the group-state tables.
- `runtime`, `engine`, `etcd`: a node around the member, the in-memory engine and the
  etcd engine (processes and machines).
- `demo`, `cli`: the embedded story and the `pbjoin` command.

The implementation stands alone: it never imports the verification package
`pbjoin_model` (the executable mirror of spec/JoinProtocol.tla); the `pbjoin` command
finds the verification commands through entry points.
"""
