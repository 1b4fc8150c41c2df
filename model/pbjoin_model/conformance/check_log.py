"""Step-log files checked against the model: one log, or one log per member merged first.

This is what `pbjoin conform LOG...` and `pbjoin demo` (through the `pbjoin.log_checkers`
entry point) run. Every way a log can be unreadable — not a step log, a bad record, logs
that cannot be merged — is one `ConformanceError` with a one-line message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pbjoin.steplog import LogError, parse_log, read_log
from pbjoin_model.conformance.logs import MergeError, conform_logs
from pbjoin_model.conformance.refinement import ConformanceError, Report, validate_log
from pbjoin_model.conformance.trace import trace_of_log
from pbjoin_model.traces.trace import Trace


def validate_log_files(paths: list[Path]) -> Report:
    try:
        if len(paths) == 1:
            return validate_log(*read_log(paths[0]))
        report, _ = conform_logs(paths)
    except (LogError, MergeError) as exc:
        raise ConformanceError(str(exc)) from None
    return report


def trace_of_log_text(text: str, path: str) -> Trace:
    """The model trace a step log (already read as text) corresponds to."""
    try:
        return trace_of_log(*parse_log(text.splitlines(), path), name=f"implementation log {path}")
    except LogError as exc:
        raise ConformanceError(str(exc)) from None


def report_json(report: Report) -> dict[str, Any]:
    div = report.divergence
    return {
        "conforms": report.conforms,
        "steps_checked": report.steps,
        "rejected_messages": report.stutters,
        "divergence": None
        if div is None
        else {"seq": div.seq, "step": div.step, "reason": div.reason, "rows": div.rows},
    }


def report_text(report: Report, log: Path | str) -> str:
    if report.divergence is None:
        rejected = f", {report.stutters} rejected messages" if report.stutters else ""
        return f"log conforms to the model ({report.steps} steps checked{rejected}): {log}"
    return f"log DIVERGES from the model after {report.steps} conforming steps: {log}\n{report.divergence.render()}"


def check_log_file(path: Path) -> tuple[bool, str, dict[str, Any]]:
    """The `pbjoin.log_checkers` entry point: (conforms, text for people, JSON report)."""
    try:
        report = validate_log_files([path])
    except ConformanceError as exc:
        return False, f"log cannot be checked: {exc}", {"conforms": False, "error": str(exc)}
    return report.conforms, report_text(report, path), report_json(report)
