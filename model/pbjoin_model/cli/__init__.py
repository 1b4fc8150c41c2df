"""The verification commands: `check`, `simulate`, `trace`, `replay`, `tla`, `conform`, `prove`, `bmc`.

Each module has `register_*` functions that the one `pbjoin` command (pbjoin.cli.main)
finds through the `pbjoin.commands` entry points. `args` holds the constant flags the
commands share. May import every subpackage; nothing imports it.
"""
