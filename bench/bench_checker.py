"""Benchmark of the explicit-state checker: states/s, distinct states, peak memory.

For each configuration (small, reference and a large one by default) it runs the
serial checker with an exact and with a fingerprint seen-set, and the parallel
checker, each in a fresh process so peak memory is that run's alone. A budget of
distinct states bounds each run; a run cut by it measures throughput and says so,
it is not a verdict. With --tlc-seconds, TLC runs on the same spec and constants
for that long and its own progress report gives its rate.

    python bench/bench_checker.py [--budget 150000] [--workers 2] [--tlc-seconds 120] [-o bench/results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pbjoin_model.explorer.bfs import Options, check
from pbjoin_model.explorer.parallel import check_parallel
from pbjoin_model.protocol import config as configs
from pbjoin_model.protocol.config import SPEC_DIR
from pbjoin_model.protocol.machine import Params
from pbjoin_model.traces.tlc import MODULE, config_text, find_jar, find_java

LARGE = Params(nodes=5, resources=3, max_failures=1, max_restarts=1, max_config_changes=1)
_PROGRESS = re.compile(r"([\d,]+) states generated \(([\d,]+) s/min\), ([\d,]+) distinct states found")


def _params(config: str) -> Params:
    return LARGE if config == "large" else configs.load(config).params


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


def tlc_rate(config: str, seconds: float) -> dict[str, Any]:
    """Run TLC (one worker, symmetry on) for `seconds` and read its last progress report."""
    p = _params(config)
    with tempfile.TemporaryDirectory(prefix="tlc-bench-") as tmp:
        work = Path(tmp)
        shutil.copy(SPEC_DIR / f"{MODULE}.tla", work / f"{MODULE}.tla")
        (work / "MC.cfg").write_text(config_text(p, symmetry=True))
        cmd = [find_java(), "-XX:+UseParallelGC", "-cp", str(find_jar()), "tlc2.TLC", "-workers", "1"]
        cmd += ["-deadlock", "-metadir", str(work / "states"), "-config", "MC.cfg", f"{MODULE}.tla"]
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=seconds, check=False)
            output, finished = proc.stdout, True
        except subprocess.TimeoutExpired as exc:
            raw = exc.stdout or b""
            output, finished = raw.decode() if isinstance(raw, bytes) else raw, False
        elapsed = time.monotonic() - start
    final = re.findall(r"([\d,]+) states generated, ([\d,]+) distinct states found", output)
    progress = _PROGRESS.findall(output)
    if final:
        generated, distinct = (int(x.replace(",", "")) for x in final[-1])
        rate = generated / elapsed
    elif progress:
        generated, per_minute, distinct = (int(x.replace(",", "")) for x in progress[-1])
        rate = per_minute / 60
    else:
        generated = distinct = 0
        rate = 0.0
    return {
        "config": config,
        "mode": "TLC 2.15, 1 worker",
        "verdict": "complete" if finished and final else f"cut after {seconds:.0f} s",
        "distinct_states": distinct,
        "states_generated": generated,
        "seconds": round(elapsed, 1),
        "states_per_second": round(rate),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="small,reference,large", help="comma-separated: small, default, ...")
    parser.add_argument("--budget", type=int, default=150_000, help="distinct states per run (0: none)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel runs")
    parser.add_argument("--tlc-seconds", type=float, default=0, help="also run TLC this long per configuration")
    parser.add_argument("-o", "--output", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    budget = args.budget or None
    rows: list[dict[str, Any]] = []
    for config in args.configs.split(","):
        for mode in ("serial-exact", "serial-fingerprints", "parallel"):
            rows.append(in_fresh_process((config, mode, budget, args.workers)))
            _print_row(rows[-1])
        if args.tlc_seconds:
            rows.append(tlc_rate(config, args.tlc_seconds))
            _print_row(rows[-1])
    if args.output:
        args.output.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _print_row(row: dict[str, Any]) -> None:
    verdict = row["verdict"] + (f" (cut by {row['cut_by']})" if row.get("cut_by") else "")
    memory = f"{row['peak_memory_mb']:>8,.0f}" if "peak_memory_mb" in row else f"{'-':>8}"
    print(
        f"{row['config']:<10}{row['mode']:<21}{row['distinct_states']:>11,}{row['states_generated']:>12,}"
        f"{row['states_per_second']:>10,}{memory}  {verdict}",
        flush=True,
    )


if __name__ == "__main__":
    print(f"{'config':<10}{'mode':<21}{'distinct':>11}{'generated':>12}{'states/s':>10}{'peak MB':>8}  verdict")
    sys.exit(main())
