"""The byte encoding of states: exact round trips, canonical bytes, and fingerprints stable across processes."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

from pbjoin_model.explorer.bfs import Options, check, reachable
from pbjoin_model.protocol.encoding import decode, encode, encode_renamed, fingerprint
from pbjoin_model.protocol.expansion import canonical_code
from pbjoin_model.protocol.machine import GroupState, GroupStateMemo, Params, State, initial_states, successors
from pbjoin_model.protocol.symmetry import canonical, inverse, permute

SMALL = Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1)
WRITES = Params(nodes=2, resources=2, max_failures=2, max_restarts=1, max_config_changes=0, max_writes=2)
THREE = Params(nodes=3, resources=2, max_failures=1, max_restarts=0, max_config_changes=0)


def _sample(p: Params, count: int) -> list[State]:
    return list(itertools.islice(reachable(p), count))


def test_every_reachable_small_state_round_trips_and_encodes_injectively() -> None:
    states = list(reachable(SMALL))
    codes = {encode(s) for s in states}
    assert len(codes) == len(states)  # distinct states, distinct bytes
    for s in states:
        back = decode(encode(s))
        assert back == s
        assert [type(x) for x in back.dataCurrent] == [bool] * len(s.dataCurrent)


def test_states_with_writes_in_flight_round_trip() -> None:
    states = _sample(WRITES, 20_000)
    with_writes = [s for s in states if any(s.dchan) and any(s.data)]
    assert with_writes, "the sample reaches data-path messages and written copies"
    assert all(decode(encode(s)) == s for s in states)


def test_large_values_switch_to_the_wide_format_and_still_round_trip() -> None:
    s = next(initial_states(THREE))
    big = s._replace(cursor=(0, 300, 70_000), crashes=1_000_000)
    code = encode(big)
    assert code[0] == 1 and len(code) > len(encode(s)) * 4
    assert decode(code) == big


def test_values_up_to_255_stay_one_byte_each_and_round_trip() -> None:
    # One byte holds 0..255: fields that may be -1 are stored plus one, the rest as they are.
    s = next(initial_states(THREE))
    high = s._replace(cursor=(128, 200, 255), crashes=254)
    code = encode(high)
    assert code[0] == 0 and len(code) == len(encode(s))
    assert decode(code) == high


def test_encoding_ignores_object_sharing() -> None:
    """Equal states encode equally whether or not they share their group states."""
    s = next(t.state for t in successors(next(initial_states(SMALL)), SMALL))
    shared = s._replace(view=(s.durable, s.durable))
    copies = s._replace(view=(GroupState(*s.durable), GroupState(*s.durable)))
    assert shared == copies and shared.view[0] is not copies.view[0]
    assert encode(shared) == encode(copies) and fingerprint(shared) == fingerprint(copies)


def test_fingerprints_are_the_same_in_another_process_with_another_hash_seed() -> None:
    states = _sample(THREE, 200)
    program = (
        "import itertools\n"
        "from pbjoin_model.explorer.bfs import reachable\n"
        "from pbjoin_model.protocol.encoding import fingerprint\n"
        "from pbjoin_model.protocol.machine import Params\n"
        "p = Params(nodes=3, resources=2, max_failures=1, max_restarts=0, max_config_changes=0)\n"
        "print([fingerprint(s) for s in itertools.islice(reachable(p), 200)])\n"
    )
    for seed in ("1", "2"):
        env = os.environ | {"PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == str([fingerprint(s) for s in states])


def test_exact_and_fingerprint_searches_agree_on_three_nodes() -> None:
    exact = check(THREE, Options(fingerprints=False, max_depth=14))
    fp = check(THREE, Options(fingerprints=True, max_depth=14))
    assert (fp.distinct, fp.generated, fp.depth, fp.verdict) == (
        exact.distinct,
        exact.generated,
        exact.depth,
        exact.verdict,
    )
    assert exact.distinct > 10_000


RESOURCES = Params(nodes=3, resources=2, max_failures=1, max_restarts=0, max_config_changes=0, max_resource_failures=1)


def test_renamed_encoding_is_the_encoding_of_the_renamed_state() -> None:
    """The explorer encodes orbit representatives without building them: the bytes must be
    those of the renamed state, for every renaming, with writes, paused nodes and resource
    failures in the sample."""
    samples = [*_sample(WRITES, 5_000), *_sample(THREE, 5_000), *_sample(RESOURCES, 5_000)]
    assert any(any(s.stale) for s in samples) and any(any(s.dchan) for s in samples)
    assert any(s.resFailures for s in samples) and any(any(s.chan) for s in samples)
    for s in samples:
        for pi in itertools.permutations(range(len(s.phase))):
            assert encode_renamed(s, pi, inverse(pi)) == encode(permute(s, pi))
        assert canonical_code(s) == encode(canonical(s))


def test_group_state_memos_stay_within_their_bound() -> None:
    """Equal group states that are distinct objects each get an identity entry, on lookups as
    well as on stores: the memo must still drop its tables at the bound."""
    memo: GroupStateMemo[int] = GroupStateMemo(bound=4)
    gs = next(initial_states(SMALL)).durable
    memo.put(gs, (), 1)
    for _ in range(20):
        copy = GroupState(*gs)
        assert memo.get(copy, ()) in (1, None)
        assert len(memo.by_identity) <= 4 and len(memo.by_value) <= 4
        if memo.get(copy, ()) is None:
            memo.put(copy, (), 1)
