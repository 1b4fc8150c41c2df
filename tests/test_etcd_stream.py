"""The ordered stream every member computes from the group's etcd history (no server needed).

The history is fed as etcd would deliver it; each test checks a write the stream must
refuse (a replay, a forgery, a FAIL for a live member) leaves the total order alone.
"""

from __future__ import annotations

import json

from pbjoin.etcd.client import KeyValue, WatchEvent
from pbjoin.etcd.stream import GroupStream, Keys
from pbjoin.wire import Access, Fail, Join, OrderedMsg, encode

KEYS = Keys("g")


class History:
    def __init__(self) -> None:
        self.stream = GroupStream("g")
        self.revision = 1
        self.created: dict[str, int] = {}
        self.versions: dict[str, int] = {}

    def put(self, key: str, value: bytes, lease: int = 0) -> None:
        self.revision += 1
        self.versions[key] = self.versions.get(key, 0) + 1
        created = self.created.setdefault(key, self.revision)
        kv = KeyValue(key, value, created, self.revision, self.versions[key], lease)
        self.stream.apply([WatchEvent(deleted=False, kv=kv)])

    def delete(self, key: str) -> None:
        self.revision += 1
        self.created.pop(key, None)
        self.versions.pop(key, None)
        self.stream.apply([WatchEvent(deleted=True, kv=KeyValue(key, b"", 0, self.revision, 0, 0))])

    def live(self, node: str, inc: int, phase: str, lease: int = 7) -> None:
        self.put(KEYS.member(node, inc), json.dumps({"phase": phase}).encode(), lease)

    def say(self, msg: OrderedMsg, step: int, author: str | None = None) -> None:
        self.put(KEYS.message(author or msg.node, msg.inc, step, 0), encode(msg))


def joined(node: str = "a") -> History:
    h = History()
    h.live(node, 0, "out")
    h.say(Join(node=node, inc=0), 1)
    h.live(node, 0, "waitState")
    return h


def test_a_live_incarnation_s_messages_take_consecutive_positions() -> None:
    h = joined()
    h.say(Access(node="a", inc=0, reaches=("r0",)), 2)
    assert h.stream.ordered == [Join(node="a", inc=0), Access(node="a", inc=0, reaches=("r0",))]
    assert h.stream.in_group(("a", 0))


def test_a_message_written_under_another_node_s_key_is_ignored() -> None:
    h = joined("a")
    h.live("b", 0, "out")
    h.say(Join(node="b", inc=0), 5, author="a")
    assert h.stream.ordered == [Join(node="a", inc=0)]
    assert "under another author's key" in h.stream.ignored[-1]


def test_rewriting_an_existing_message_key_replays_nothing() -> None:
    h = joined()
    h.put(KEYS.message("a", 0, 1, 0), encode(Join(node="a", inc=0)))
    assert len(h.stream.ordered) == 1
    assert "rewrite" in h.stream.ignored[-1]


def test_a_failed_incarnation_replaying_its_messages_is_ignored() -> None:
    h = joined()
    h.delete(KEYS.member("a", 0))
    assert h.stream.needs_fail == {("a", 0)}
    h.put(KEYS.fail("b", "a", 0), encode(Fail(node="a", inc=0)))
    h.say(Join(node="a", inc=0), 7)
    h.say(Access(node="a", inc=0, reaches=("r0",)), 8)
    assert h.stream.ordered == [Join(node="a", inc=0), Fail(node="a", inc=0)]
    assert h.stream.failed == {("a", 0): 1}
    assert h.stream.next_incarnation("a") == 1


def test_a_fail_written_early_blocks_nobody_and_only_one_fail_counts() -> None:
    h = joined()
    h.put(KEYS.fail("b", "a", 0), encode(Fail(node="a", inc=0)))  # b squats on a's failure while a is live
    assert h.stream.ordered == [Join(node="a", inc=0)]
    assert "is live" in h.stream.ignored[-1]
    h.delete(KEYS.member("a", 0))
    h.put(KEYS.fail("c", "a", 0) + "x", encode(Fail(node="a", inc=0)))  # not a FAIL key of this protocol
    h.put(KEYS.fail("c", "b", 0), encode(Fail(node="a", inc=0)))  # the key names another incarnation
    assert h.stream.ordered == [Join(node="a", inc=0)]
    h.put(KEYS.fail("c", "a", 0), encode(Fail(node="a", inc=0)))  # c's own key: the real FAIL
    h.put(KEYS.fail("d", "a", 0), encode(Fail(node="a", inc=0)))
    assert h.stream.ordered == [Join(node="a", inc=0), Fail(node="a", inc=0)]
    assert "already failed" in h.stream.ignored[-1]


def test_a_member_that_never_joined_leaves_no_fail_behind() -> None:
    h = History()
    h.live("a", 0, "out")
    h.delete(KEYS.member("a", 0))
    assert not h.stream.needs_fail


def test_a_new_incarnation_cannot_join_before_the_old_one_failed() -> None:
    h = joined()
    h.live("a", 1, "out")
    h.say(Join(node="a", inc=1), 1)
    assert h.stream.ordered == [Join(node="a", inc=0)]
    assert "out-of-turn" in h.stream.ignored[-1]


def test_point_to_point_messages_from_a_dead_sender_are_ignored() -> None:
    h = joined()
    h.stream.inbox_of = "b"
    h.put(KEYS.p2p("a", 0, "b", 0, 3, 0), b"{}")
    h.put(KEYS.p2p("a", 0, "c", 0, 3, 1), b"{}")
    h.delete(KEYS.member("a", 0))
    h.put(KEYS.p2p("a", 0, "b", 0, 4, 0), b"{}")
    assert [(d.src, d.dst) for d in h.stream.direct] == [("a", "b")]


def test_a_liveness_key_without_a_lease_is_no_live_member() -> None:
    h = joined("a")
    h.live("b", 0, "member", lease=0)  # written by hand: nothing would ever expire it
    assert ("b", 0) not in h.stream.live and ("a", 0) in h.stream.live
    h.live("a", 0, "member", lease=0)  # a's own key rewritten without its lease
    assert ("a", 0) not in h.stream.live
    assert h.stream.needs_fail == set()  # and nobody is asked to declare what cannot expire


def test_a_revision_handed_out_again_by_a_reconnected_watch_is_applied_once() -> None:
    h = joined()
    h.say(Access(node="a", inc=0, reaches=("r0",)), 2)
    kv = KeyValue(
        KEYS.message("a", 0, 2, 0), encode(Access(node="a", inc=0, reaches=("r0",))), h.revision, h.revision, 1, 0
    )
    h.stream.apply([WatchEvent(deleted=False, kv=kv)])
    assert h.stream.ordered == [Join(node="a", inc=0), Access(node="a", inc=0, reaches=("r0",))]
    assert "already applied" in h.stream.ignored[-1]
