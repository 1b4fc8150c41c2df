"""The text view (member views side by side) and the HTML page, the latter in real Chromium."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from pbjoin_model.protocol.machine import Params, Step, initial_states, successors
from pbjoin_model.traces.html import chart, render_html
from pbjoin_model.traces.text import format_text, view_table
from pbjoin_model.traces.trace import Trace, from_itf
from PIL import Image

from pbjoin.cli.main import main

TRACES = Path(__file__).parent / "traces"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags this machine needs: no sandbox as root, and no background traffic to
# Google's services, which the closed network would refuse again and again.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def load(name: str) -> Trace:
    return from_itf(json.loads((TRACES / f"{name}.itf.json").read_text()))


@pytest.fixture(scope="module")
def promote() -> Trace:
    return load("promote-unsynced-mirror")


def test_text_view_numbers_steps_and_puts_views_side_by_side(promote: Trace) -> None:
    text = format_text(promote)
    assert text.splitlines()[0] == "  0. Initial state"
    assert "  9. Deliver(n=n1)  -- delivers FAIL(n2)" in text
    step7 = text[text.index("  7. ") : text.index("  8. ")]
    lines = step7.splitlines()
    header = next(line for line in lines if "views" in line)
    assert re.search(r"n1 @2\s+n2 @0\s+durable", header)  # n2 lags two messages behind n1
    # A row the step did not change is still shown when the members disagree on it.
    assert re.search(r"status\[n1\]\s+active\s+placed\s+placed$", step7, re.MULTILINE)
    assert re.search(r"host\[r1\]\s+n2\*\s+none\s+none$", step7, re.MULTILINE)
    assert "view[" not in step7  # views appear only in the table
    assert "prim " not in step7  # rows nobody changed and everybody agrees on are left out


def test_a_table_appears_exactly_where_a_view_or_cursor_changed(promote: Trace) -> None:
    for before, step in zip(promote.steps, promote.steps[1:], strict=False):
        table = view_table(before.state, step.state, full=False)
        changed = (
            before.state.view != step.state.view
            or before.state.durable != step.state.durable
            or before.state.cursor != step.state.cursor
        )
        assert (table is not None) == changed, step.label()


def test_full_text_view_shows_whole_states(promote: Trace, capsys: pytest.CaptureFixture[str]) -> None:
    full = format_text(promote, full=True)
    assert full.count("crashes = ") == len(promote.steps)
    assert main(["trace", "show", str(TRACES / "promote-unsynced-mirror.itf.json"), "--full"]) == 0
    out = capsys.readouterr().out
    assert "mutant     promote-unsynced-mirror" in out and "violated   NoDataLoss" in out
    assert out.count("crashes = ") == len(promote.steps)


def walk(p: Params, access: tuple[int, ...], labels: list[str]) -> Trace:
    """The trace through the given action instances, from the initial state with that wiring."""
    steps = [Step("Init", (), next(s for s in initial_states(p) if s.access == access))]
    for label in labels:
        steps.append(next(t for t in successors(steps[-1].state, p) if t.label() == label))
    return Trace(p, tuple(steps))


def test_chart_has_ordered_deliveries_and_p2p_messages(promote: Trace) -> None:
    ch = chart(promote)
    ordered = [a for a in ch.arrows if a.kind == "ordered"]
    # n1 delivers its own ACCESS and JOIN_DONE, then n2's ACCESS and FAIL.
    assert [(a.label, a.src, a.dst) for a in ordered] == [
        ("ACCESS(n1, {r2})", 0, 0),
        ("JOIN_DONE(n1)", 0, 0),
        ("ACCESS(n2, {r1})", 1, 0),
        ("FAIL(n2)", 1, 0),
    ]
    assert all(a.sent < a.received for a in ordered)
    p2p = [a for a in ch.arrows if a.kind == "p2p"]
    assert [(a.label, a.src, a.dst, a.sent, a.received, a.lost) for a in p2p] == [
        ("GROUP_STATE(@0)", 0, 1, 4, 6, False)
    ]
    assert [(m.kind, m.lane, m.step) for m in ch.marks if m.kind != "multicast"] == [("crash", 1, 8)]


def test_messages_lost_with_a_crashed_node_are_marked() -> None:
    p = Params(nodes=2, resources=1)
    trace = walk(p, (1, 1), ["Join(n=n1)", "Join(n=n2)", "RecoverGroupState(n=n1)", "Deliver(n=n1)", "Crash(n=n1)"])
    lost = [a for a in chart(trace).arrows if a.lost]
    assert [(a.label, a.src, a.dst, a.sent, a.received) for a in lost] == [("GROUP_STATE(@0)", 0, 1, 4, 5)]
    assert "lostmark" in render_html(trace)


def test_page_is_self_contained(promote: Trace) -> None:
    page = render_html(promote)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched
    assert "<link" not in page and "@import" not in page
    assert page.count('class="row') == len(promote.steps)
    assert 'class="row bad"' in page  # the violating step
    # the stored trace ends at NoDataLoss; the choice property sees the bad failover a step earlier
    assert "Violated: <b>FailoverToFirstSynced</b> at step 8." in page
    assert page.count('class="lanename"') == promote.params.nodes


def test_trace_view_command_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "page.html"
    assert main(["trace", "view", str(TRACES / "no-state-resend.itf.json"), "-o", str(out)]) == 0
    assert "Deadlock" in out.read_text()
    assert main(["trace", "view", str(TRACES / "no-state-resend.itf.json"), "-o", str(tmp_path / "no/dir.html")]) == 2
    assert capsys.readouterr().err.startswith("pbjoin: error: cannot write")


def test_page_in_headless_chromium(promote: Trace, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: make test installs Debian's chromium"
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "page.html"
    page_file.write_text(render_html(promote))
    errors: list[str] = []
    last = len(promote.steps) - 1
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
            offline=True,
        )
        try:
            page = browser.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_file.as_uri())
            assert page.locator("#step-title").inner_text().startswith(f"Step 0 of {last}: Initial state")
            assert page.locator("#views tr").count() > 10
            assert page.locator("#violations").inner_text() == ""
            cursor_y = page.locator("#cursor").get_attribute("y")

            page.locator("#step").fill(str(last))  # the slider moves to the violation
            title = page.locator("#step-title").inner_text()
            assert title.startswith(f"Step {last} of {last}: Deliver(n=n1)") and "FAIL(n2)" in title
            assert page.locator("#violations").inner_text() == "Violates NoDataLoss"
            assert page.locator("#cursor").get_attribute("y") != cursor_y
            assert page.locator("#views td.changed").count() > 0
            assert page.locator("#views th").nth(1).inner_text() == "n1 @0"

            page.keyboard.press("ArrowLeft")
            assert page.locator("#step").input_value() == str(last - 1)
            page.locator('.row[data-step="3"]').click(position={"x": 5, "y": 5})
            assert page.locator("#step-title").inner_text().startswith("Step 3 of")

            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        assert width >= 1000 and height >= 600
        colors = rgb.getcolors(maxcolors=1 << 20)
        assert colors is not None and len(colors) > 50  # text, lanes, arrows, highlights
        white = sum(count for count, color in colors if color == (255, 255, 255))
        assert white < 0.95 * width * height
