"""pbjoin: the production implementation of the join protocol (see README.md).

The implementation stands alone: it never imports the `model` package, which is
the executable mirror of spec/JoinProtocol.tla used for checking.
"""
