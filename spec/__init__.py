"""spec/ as the package `pbjoin_model.spec`: the TLA+ module and its TLC configurations, shipped in the wheel."""
