"""The one `pbjoin` command: the production commands, and the verification commands as plug-ins.

`main` parses the command line. `node`, `admin` (status and group administration),
`resource` and `demo` are the production commands and import only the implementation
(`pbjoin.*`). The verification commands (`check`, `prove`, `conform`, ...) live in the
verification package `pbjoin_model` and are found through the `pbjoin.commands` entry
points, so this package never imports the model: without the `verify` extra they are
listed but say in one line what to install.
"""
