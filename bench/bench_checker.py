"""Benchmark of the explicit-state checker, against TLC at equal worker counts.

Like for like: for each compared configuration and each worker count, `pbjoin check` and TLC
check the same spec and constants (symmetry on, fingerprint seen-sets in both) to the end, each
as a process of its own, one after the other. For each run it records the wall time, the CPU
time (user + system of the process and of the worker processes it reaped, from wait4) and the
peak memory, then the ratios TLC / pbjoin of wall and of CPU time, both measured in this run.
TLC's version is read from its own banner. A run past --timeout is killed and reported as cut:
a ratio against a cut TLC run is a lower bound, and none is given against a cut pbjoin run.

Throughput: configurations too large to finish (the reference one among them) run the serial
checker (exact and fingerprint seen-sets) and the parallel one, each in a fresh process, for a
budget of distinct states; a run cut by the budget measures states/s, it is not a verdict.

    python bench/bench_checker.py [--compare one-failure,default] [--workers 1,2] [--timeout 900]
                                  [--throughput reference,large] [--budget 100000] [-o bench/results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbjoin_model.explorer.bfs import Options, check
from pbjoin_model.explorer.parallel import check_parallel
from pbjoin_model.protocol import config as configs
from pbjoin_model.protocol.machine import Params
from pbjoin_model.traces.tlc import parse_output, tlc_command

LARGE = Params(nodes=5, resources=3, max_failures=1, max_restarts=1, max_config_changes=1)
# The configuration the issue measured both checkers on: 135,367 distinct states in each.
ONE_FAILURE = Params(nodes=3, resources=2, max_failures=1, max_restarts=0, max_config_changes=0)
_TLC_VERSION = re.compile(r"TLC2 Version (.+)")
_TLC_PROGRESS = re.compile(r"([\d,]+) states generated \([\d,]+ s/min\), ([\d,]+) distinct states found")
_PBJOIN = "import sys; from pbjoin.cli.main import main; sys.exit(main())"
_PBJOIN_PROGRESS = re.compile(r"progress: ([\d,]+) states generated, ([\d,]+) distinct")


def _params(config: str) -> Params:
    if config == "large":
        return LARGE
    if config == "one-failure":
        return ONE_FAILURE
    return configs.load(config).params


@dataclass(frozen=True)
class Timed:
    """One finished or killed process: what it printed and what it cost."""

    stdout: str
    stderr: str
    wall: float
    cpu: float  # user + system seconds, its reaped children included
    peak_mb: float  # the largest resident set among it and its reaped children
    finished: bool  # False: killed at the timeout


def run_timed(cmd: list[str], cwd: Path | None, timeout: float) -> Timed:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        # A session of its own, so the timeout kills the workers a run started along with it.
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, text=True, start_new_session=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):  # it ended just now
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        out.seek(0)
        err.seek(0)
        return Timed(
            stdout=out.read(),
            stderr=err.read(),
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_mb=usage.ru_maxrss / 1024.0,
            finished=not killed.is_set(),
        )


def _constant_flags(p: Params) -> list[str]:
    return [
        f"--nodes={p.nodes}",
        f"--resources={p.resources}",
        f"--max-failures={p.max_failures}",
        f"--max-restarts={p.max_restarts}",
        f"--max-config-changes={p.max_config_changes}",
        f"--max-writes={p.max_writes}",
    ]


def _row(config: str, checker: str, workers: int, run: Timed) -> dict[str, Any]:
    return {
        "config": config,
        "checker": checker,
        "workers": workers,
        "finished": run.finished,
        "wall_seconds": round(run.wall, 2),
        "cpu_seconds": round(run.cpu, 2),
        "peak_memory_mb": round(run.peak_mb, 1),
    }


def run_pbjoin(config: str, workers: int, timeout: float) -> dict[str, Any]:
    p = _params(config)
    cmd = [sys.executable, "-c", _PBJOIN, "check", "--config=default", *_constant_flags(p)]
    cmd += [f"--workers={workers}", "--fingerprints", "--json"]
    run = run_timed(cmd, None, timeout)
    row = _row(config, "pbjoin", workers, run)
    if not run.finished:
        return row | _cut(_PBJOIN_PROGRESS, run.stderr, timeout)
    report = json.loads(run.stdout)
    # Workers' resident sets add up; wait4 reports only the largest single process.
    return row | {
        "verdict": report["verdict"],
        "distinct_states": report["distinct_states"],
        "states_generated": report["states_generated"],
        "depth": report["depth"],
        "peak_memory_mb": report["peak_memory_mb"],
    }


def run_tlc(config: str, workers: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tlc-bench-") as tmp:
        work = Path(tmp)
        run = run_timed(tlc_command(work, _params(config), symmetry=True, workers=workers), work, timeout)
    output = run.stdout + run.stderr
    version = _TLC_VERSION.search(output)
    row = _row(config, "TLC", workers, run) | {"tlc_version": version.group(1).strip() if version else "unknown"}
    result = parse_output(output, 0)
    if run.finished and result.distinct_states is not None:
        verdict = "holds" if result.ok else "error: " + "; ".join(result.violated + result.errors)
        return row | {
            "verdict": verdict,
            "distinct_states": result.distinct_states,
            "states_generated": result.states_generated,
        }
    return row | _cut(_TLC_PROGRESS, output, timeout)


def _cut(progress: re.Pattern[str], output: str, timeout: float) -> dict[str, Any]:
    """A killed run's verdict, and how far its last progress report (generated, distinct) says it got."""
    reports = progress.findall(output)
    generated, distinct = (int(x.replace(",", "")) for x in reports[-1]) if reports else (None, None)
    return {"verdict": f"cut after {timeout:.0f} s", "distinct_states": distinct, "states_generated": generated}


def ratio(pbjoin: dict[str, Any], tlc: dict[str, Any]) -> dict[str, Any]:
    """TLC's cost over pbjoin's, for one configuration and worker count."""
    base = {"config": pbjoin["config"], "workers": pbjoin["workers"]}
    if not pbjoin["finished"]:
        note = "pbjoin was cut: no time ratio"
        if pbjoin["states_generated"] and tlc["states_generated"]:
            rates = [r["states_generated"] / r["cpu_seconds"] for r in (pbjoin, tlc)]
            note += f"; states generated per CPU second, pbjoin {rates[0]:,.0f} / TLC {rates[1]:,.0f}"
            note += f" = {rates[0] / rates[1]:.1f}x"
        return base | {"wall_ratio": None, "cpu_ratio": None, "note": note}
    same = tlc["finished"] and tlc["distinct_states"] == pbjoin["distinct_states"]
    if tlc["finished"] and not same:
        note = f"DIFFERENT distinct counts: TLC {tlc['distinct_states']}, pbjoin {pbjoin['distinct_states']}"
    else:
        note = "same distinct states" if same else "TLC was cut: the ratios are lower bounds"
    return base | {
        "wall_ratio": round(tlc["wall_seconds"] / pbjoin["wall_seconds"], 2),
        "cpu_ratio": round(tlc["cpu_seconds"] / pbjoin["cpu_seconds"], 2),
        "lower_bound": not tlc["finished"],
        "note": note,
    }


def measure(config: str, mode: str, budget: int | None, workers: int) -> dict[str, Any]:
    p = _params(config)
    options = Options(symmetry=True, fingerprints=mode != "serial-exact", max_states=budget)
    result = check_parallel(p, options, workers=workers) if mode == "parallel" else check(p, options)
    return {
        "config": config,
        "constants": dataclasses.asdict(p) | {"mutant": p.mutant.value},
        "mode": mode,
        "workers": workers if mode == "parallel" else 1,
        "verdict": result.verdict.value,
        "cut_by": result.cut_by,
        "distinct_states": result.distinct,
        "states_generated": result.generated,
        "depth": result.depth,
        "seconds": round(result.seconds, 2),
        "states_per_second": round(result.states_per_second),
        "peak_memory_mb": round(result.peak_memory_mb, 1),
    }


def _child(args: tuple[str, str, int | None, int], out: Any) -> None:
    out.put(measure(*args))


def in_fresh_process(args: tuple[str, str, int | None, int]) -> dict[str, Any]:
    """Measure in a new (non-daemon, so it may start workers) process: its peak RSS is this run's."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(args, out))
    proc.start()
    row: dict[str, Any] = out.get()
    proc.join()
    return row


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def _print_run(row: dict[str, Any]) -> None:
    print(
        f"{row['config']:<12}{row['checker']:<8}{row['workers']:>8}{_count(row['distinct_states']):>11}"
        f"{_count(row['states_generated']):>12}{row['wall_seconds']:>9.1f}{row['cpu_seconds']:>9.1f}"
        f"{row['peak_memory_mb']:>9,.0f}  {row['verdict']}",
        flush=True,
    )


def _print_ratio(r: dict[str, Any]) -> None:
    if r["wall_ratio"] is None:
        print(f"{r['config']:<12}{r['workers']:>8} workers  {r['note']}", flush=True)
        return
    at_least = ">= " if r["lower_bound"] else ""
    print(
        f"{r['config']:<12}{r['workers']:>8} workers  TLC/pbjoin wall {at_least}{r['wall_ratio']:.2f}x, "
        f"CPU {at_least}{r['cpu_ratio']:.2f}x  ({r['note']})",
        flush=True,
    )


def _print_throughput(row: dict[str, Any]) -> None:
    verdict = row["verdict"] + (f" (cut by {row['cut_by']})" if row.get("cut_by") else "")
    print(
        f"{row['config']:<12}{row['mode']:<21}{row['distinct_states']:>11,}{row['states_generated']:>12,}"
        f"{row['states_per_second']:>10,}{row['peak_memory_mb']:>9,.0f}  {verdict}",
        flush=True,
    )


def _names(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", default="one-failure,default", help="configurations both checkers run to the end")
    parser.add_argument("--workers", default="1,2", help="worker counts for the comparison")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a compared run is cut")
    parser.add_argument("--throughput", default="reference,large", help="configurations run for a budget only")
    parser.add_argument("--budget", type=int, default=100_000, help="distinct states per throughput run")
    parser.add_argument("--parallel-workers", type=int, default=2, help="processes for the parallel throughput run")
    parser.add_argument("-o", "--output", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} at the start (the machine may be shared)")
    runs: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    if _names(args.compare):
        print(f"\n{'config':<12}{'checker':<8}{'workers':>8}{'distinct':>11}{'generated':>12}", end="")
        print(f"{'wall s':>9}{'CPU s':>9}{'peak MB':>9}  verdict")
    for config in _names(args.compare):
        for workers in (int(w) for w in _names(args.workers)):
            pbjoin = run_pbjoin(config, workers, args.timeout)
            _print_run(pbjoin)
            tlc = run_tlc(config, workers, args.timeout)
            _print_run(tlc)
            runs += [pbjoin, tlc]
            ratios.append(ratio(pbjoin, tlc))
    tlc_versions = sorted({r["tlc_version"] for r in runs if r["checker"] == "TLC"})
    if ratios:
        print(f"\nTLC version: {', '.join(tlc_versions)}")
        for r in ratios:
            _print_ratio(r)
    throughput: list[dict[str, Any]] = []
    if _names(args.throughput):
        print(f"\n{'config':<12}{'mode':<21}{'distinct':>11}{'generated':>12}{'states/s':>10}{'peak MB':>9}  verdict")
    for config in _names(args.throughput):
        for mode in ("serial-exact", "serial-fingerprints", "parallel"):
            throughput.append(in_fresh_process((config, mode, args.budget or None, args.parallel_workers)))
            _print_throughput(throughput[-1])
    if args.output:
        report = {
            "cpus": os.cpu_count(),
            "load_average_at_start": load[0],
            "tlc_versions": tlc_versions,
            "comparison": runs,
            "ratios": ratios,
            "throughput": throughput,
        }
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
