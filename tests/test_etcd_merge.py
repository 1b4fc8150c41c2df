"""The merge of per-member step logs (pbjoin_model.conformance.logs), on logs whose true order is known.

The in-memory engine's demo log is one valid global order. Split into one log per
member the way the etcd engine writes them (local step numbers, no Crash or Restart
for a member killed by the cluster, the member's files in any order), the merge must
give back an order the model accepts, with the same steps.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from pbjoin_model.conformance.logs import MergeError, conform_logs, merge_logs
from pbjoin_model.conformance.refinement import validate_log

from pbjoin.demo import run_demo
from pbjoin.steplog import ClusterRecord, JsonLineLog, StepRecord, read_log


def demo(tmp_path: Path) -> tuple[ClusterRecord, list[StepRecord]]:
    run_demo(tmp_path / "demo", echo=lambda _: None, verbose=False)
    return read_log(tmp_path / "demo" / "log.jsonl")


def split(cluster: ClusterRecord, steps: list[StepRecord]) -> dict[str, list[StepRecord]]:
    """Per member: its steps, numbered locally, without the steps the cluster takes for it."""
    per: dict[str, list[StepRecord]] = defaultdict(list)
    for rec in steps:
        if rec.step in ("Crash", "Restart"):
            continue  # a killed process logs neither; the merge must synthesise both
        per[rec.member].append(rec.model_copy(update={"seq": len(per[rec.member]) + 1}))
    return per


def as_logs(cluster: ClusterRecord, per: dict[str, list[StepRecord]]) -> list[tuple[ClusterRecord, list[StepRecord]]]:
    logs = []
    for node in sorted(per, reverse=True):  # not the cluster's order
        own = cluster.model_copy(update={"nodes": (node,), "access": {node: cluster.access[node]}})
        logs.append((own, per[node]))
    return logs


def test_split_demo_logs_merge_into_an_order_the_model_accepts(tmp_path: Path) -> None:
    cluster, steps = demo(tmp_path)
    merged_cluster, merged = merge_logs(as_logs(cluster, split(cluster, steps)))
    report = validate_log(merged_cluster, merged)
    assert report.conforms, report.divergence and report.divergence.render()
    assert len(merged) == len(steps)
    assert [r.seq for r in merged] == list(range(1, len(steps) + 1))
    crashes = [r for r in merged if r.step == "Crash"]
    assert crashes and all("synthesised" in r.notes[0] for r in crashes)
    assert sorted((r.step, r.member) for r in merged) == sorted((r.step, r.member) for r in steps)


def test_a_step_logged_before_its_commit_gets_its_positions_from_the_stream(tmp_path: Path) -> None:
    cluster, steps = demo(tmp_path)
    per = split(cluster, steps)
    node = next(n for n, recs in per.items() if any(r.multicast for r in recs[1:]))
    i = next(i for i, r in enumerate(per[node]) if r.multicast and i > 0)
    per[node][i] = per[node][i].model_copy(update={"multicast_at": []})  # only the early copy survived
    report = validate_log(*merge_logs(as_logs(cluster, per)))
    assert report.conforms, report.divergence and report.divergence.render()


def test_a_last_step_that_never_committed_is_dropped(tmp_path: Path) -> None:
    cluster, steps = demo(tmp_path)
    per = split(cluster, steps)
    node = sorted(per)[0]
    last = per[node][-1]
    never = last.model_copy(
        update={"seq": last.seq + 1, "multicast": [{"v": 1, "kind": "JOIN_DONE", "node": node, "inc": 99}]}
    )
    per[node].append(never)
    _, merged = merge_logs(as_logs(cluster, per))
    assert len(merged) == len(steps)


def test_a_later_copy_of_a_step_replaces_the_earlier(tmp_path: Path) -> None:
    cluster, steps = demo(tmp_path)
    per = split(cluster, steps)
    node = sorted(per)[0]
    first = per[node][0]
    per[node].insert(0, first.model_copy(update={"multicast_at": []}))
    _, merged = merge_logs(as_logs(cluster, per))
    assert len(merged) == len(steps)


def test_a_delivery_logged_before_its_message_was_multicast_admits_no_order(tmp_path: Path) -> None:
    cluster, steps = demo(tmp_path)
    per = split(cluster, steps)
    node, sent, deliver = next(
        (node, sent, deliver)
        for node, recs in sorted(per.items())
        for sent, r in enumerate(recs)
        if r.multicast_at
        for deliver, d in enumerate(recs)
        if d.step == "Deliver" and d.position == r.multicast_at[0] and not d.multicast
    )
    recs = per[node]
    recs.insert(sent, recs.pop(deliver))  # it delivered its own message before multicasting it
    per[node] = [r.model_copy(update={"seq": k + 1}) for k, r in enumerate(recs)]
    with pytest.raises(MergeError, match="no order consistent with causality"):
        merge_logs(as_logs(cluster, per))


def test_logs_of_different_groups_do_not_merge(tmp_path: Path) -> None:
    cluster, steps = demo(tmp_path)
    logs = as_logs(cluster, split(cluster, steps))
    other = logs[0][0].model_copy(update={"group": "another"})
    with pytest.raises(MergeError, match="different groups"):
        merge_logs([(other, logs[0][1]), *logs[1:]])


def write_member_logs(tmp_path: Path, cluster: ClusterRecord, steps: list[StepRecord]) -> list[Path]:
    """The demo's steps as one JSON-line file per member, as etcd members write them."""
    paths = []
    for own, recs in as_logs(cluster, split(cluster, steps)):
        path = tmp_path / f"{own.nodes[0]}.jsonl"
        log = JsonLineLog(path)
        log.write(own)
        for rec in recs:
            log.write(rec)
        log.close()
        paths.append(path)
    return paths


def test_conform_logs_reads_one_file_per_member(tmp_path: Path) -> None:
    cluster, steps = demo(tmp_path)
    paths = write_member_logs(tmp_path, cluster, steps)
    report, merged = conform_logs(paths)
    assert report.conforms and merged == len(steps)


def test_cli_conform_merges_several_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pbjoin.cli.main import main

    cluster, steps = demo(tmp_path)
    paths = [str(path) for path in write_member_logs(tmp_path, cluster, steps)]
    assert main(["conform", *paths]) == 0
    assert capsys.readouterr().out.startswith(f"log conforms to the model ({len(steps)} steps checked")
    assert main(["conform", *paths[1:]]) == 2  # a member's log missing: the total order has holes
    assert capsys.readouterr().err.startswith("pbjoin: error: no log has the step that multicast position")


def test_a_crashed_sender_s_undelivered_message_is_dropped_and_its_next_incarnation_s_comes_next() -> None:
    """n2, backup host, ACKs a write and is killed before n1 takes the ACK; restarted, it ACKs
    the next write. Per channel, the receipts skip the rest of the crashed incarnation's sends."""
    from test_member_engine import act, cluster, logged, settle

    engine = cluster({"n1": {"r1"}, "n2": {"r2"}})
    for n in ("n1", "n2"):
        engine.step(act("Join", n=n))
        settle(engine)
    engine.write("n1", "w-1", "k1", "v1")
    engine.step(act("ReceiveWrite", src="n1", n="n2"))  # n2 applies it and sends its ACK
    engine.step(act("Crash", n="n2"))  # ... which n1 never takes
    settle(engine)
    engine.step(act("Restart", n="n2"))
    engine.step(act("Join", n="n2"))
    settle(engine)
    engine.write("n1", "w-2", "k2", "v2")
    settle(engine)
    assert engine.ledger["w-2"].status == "acked"
    cluster_record, records = logged(engine)
    merged_cluster, merged = merge_logs(as_logs(cluster_record, split(cluster_record, records)))
    report = validate_log(merged_cluster, merged)
    assert report.conforms, report.divergence and report.divergence.render()


def paused_primary_logs(late_write: bool) -> tuple[ClusterRecord, dict[str, list[StepRecord]]]:
    """test_conformance_data's story (n1, primary host, paused past its lease; n3 takes over
    and fences r1; n1 wakes and takes one more write, refused as fenced), without that late
    write unless `late_write`. Split the way etcd members log it: n1 never learns it failed,
    so it logs no Pause and its later steps show its old view."""
    from test_conformance_data import CLUSTER, paused_primary_story

    steps = paused_primary_story()
    paused_at = next(i for i, r in enumerate(steps) if r.step == "Pause")
    before = next(r.post for r in reversed(steps[:paused_at]) if r.member == "n1")
    unaware = [
        r.model_copy(update={"post": before.model_copy(update={"epoch": r.post.epoch, "pending": r.post.pending})})
        if r.member == "n1" and i > paused_at
        else r
        for i, r in enumerate(steps)
        if r.step != "Pause" and (late_write or r.member != "n1" or i < paused_at)
    ]
    return CLUSTER, split(CLUSTER, unaware)


def test_a_paused_primary_host_s_fenced_write_comes_after_a_synthesised_pause_and_the_takeover() -> None:
    cluster_record, per = paused_primary_logs(late_write=True)
    _, merged = merge_logs(as_logs(cluster_record, per))
    report = validate_log(cluster_record, merged)
    assert report.conforms, report.divergence and report.divergence.render()
    labels = [(r.step, r.member) for r in merged]
    pause, late = labels.index(("Pause", "n1")), labels.index(("Write", "n1"), labels.index(("Pause", "n1")))
    takeover = next(i for i, r in enumerate(merged) if r.member == "n3" and r.post.epoch == 2)
    assert pause < takeover < late and merged[pause].synthesised
    assert merged[late].post.paused and merged[late].post.phase == "down"


def test_a_failed_primary_host_without_a_fenced_write_is_synthesised_crashed() -> None:
    cluster_record, per = paused_primary_logs(late_write=False)
    _, merged = merge_logs(as_logs(cluster_record, per))
    assert validate_log(cluster_record, merged).conforms
    assert ("Crash", "n1") in [(r.step, r.member) for r in merged]
    assert "Pause" not in [r.step for r in merged]


def test_a_live_primary_host_s_write_refused_as_fenced_diverges_at_that_write() -> None:
    """No failure explains that refusal: the merge synthesises no Pause and the model takes the write."""
    from test_member_engine import act, cluster, logged, settle

    from pbjoin.steplog import AnswerRecord

    engine = cluster({"n1": {"r1"}, "n2": {"r2"}})
    for n in ("n1", "n2"):
        engine.step(act("Join", n=n))
        settle(engine)
    engine.write("n1", "w", "k", "v")
    cluster_record, steps = logged(engine)
    fenced = AnswerRecord(id="w", status="refused", position=0, epoch=1, reason="fenced: a newer epoch")
    post = steps[-1].post.model_copy(update={"pending": {}})
    steps[-1] = steps[-1].model_copy(update={"answers": [fenced], "data_sent": [], "post": post})
    _, merged = merge_logs(as_logs(cluster_record, split(cluster_record, steps)))
    report = validate_log(cluster_record, merged)
    assert report.divergence is not None and "Pause" not in [r.step for r in merged]
    assert report.divergence.step == "Write(n=n1)"
    assert "answers" in [row[0] for row in report.divergence.rows]
