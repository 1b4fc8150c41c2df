"""Argument types and flags shared by every `pbjoin` subcommand."""

from __future__ import annotations

import argparse

from pbjoin_model.protocol import config as configs
from pbjoin_model.protocol.config import ModelConfig
from pbjoin_model.protocol.machine import Mutant


def natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def mutant(text: str) -> Mutant:
    try:
        return Mutant(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown mutant {text!r} (see pbjoin check --list-mutants)") from None


def add_constant_flags(parser: argparse.ArgumentParser, default_config: str) -> None:
    """--config and the flags that override single constants of it."""
    parser.add_argument(
        "--config",
        default=default_config,
        metavar="small|default|failures|writes|resources|reference|PATH",
        help="named configuration (spec/MC_<name>.cfg) or path to a TLC .cfg file",
    )
    parser.add_argument("--nodes", type=natural, help="override the number of nodes")
    parser.add_argument("--resources", type=natural, help="override the number of resources")
    parser.add_argument("--max-failures", type=natural, help="override MaxFailures")
    parser.add_argument("--max-restarts", type=natural, help="override MaxRestarts")
    parser.add_argument("--max-config-changes", type=natural, help="override MaxConfigChanges")
    parser.add_argument(
        "--max-writes", type=natural, help="override MaxWrites (client writes; 0 switches the data path off)"
    )
    parser.add_argument(
        "--max-resource-failures",
        type=natural,
        help="override MaxResourceFailures (resources that fail, each possibly repaired; 0 switches them off)",
    )


def load_constants(args: argparse.Namespace, name: str) -> ModelConfig:
    """The configuration `name` with the overrides given by add_constant_flags' flags."""
    return configs.with_overrides(
        configs.load(name),
        nodes=args.nodes,
        resources=args.resources,
        max_failures=args.max_failures,
        max_restarts=args.max_restarts,
        max_config_changes=args.max_config_changes,
        max_writes=args.max_writes,
        max_resource_failures=args.max_resource_failures,
    )
