"""Wire messages: versioned and validated; anything else is refused with a one-line reason."""

from __future__ import annotations

import pytest

from pbjoin.group import GroupState
from pbjoin.wire import (
    Access,
    ConfigMsg,
    GroupStateMsg,
    Join,
    MalformedMessageError,
    decode_direct,
    decode_ordered,
    encode,
)


def test_messages_round_trip_through_the_wire() -> None:
    access = Access(node="n2", inc=1, reaches=("r1", "r3"))
    assert decode_ordered(encode(access)) == access
    state = GroupStateMsg(state=GroupState.initial(("r1", "r2")).to_body(), position=4)
    assert decode_direct(encode(state)) == state
    assert b'"v":1' in encode(Join(node="n1", inc=0))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "malformed ordered message"),
        (b'{"v":1,"kind":"JOIN","node":"n1"}', "inc: Field required"),
        (b'{"v":2,"kind":"JOIN","node":"n1","inc":0}', "v: Input should be 1"),
        (b'{"v":1,"kind":"SHOUT","node":"n1","inc":0}', "does not match any of the expected tags"),
        (b'{"v":1,"kind":"JOIN","node":"N1!","inc":0}', "node: String should match pattern"),
        (b'{"v":1,"kind":"JOIN","node":"n1","inc":-1}', "inc: Input should be greater than or equal to 0"),
        (b'{"v":1,"kind":"JOIN","node":"n1","inc":0,"extra":1}', "extra: Extra inputs are not permitted"),
    ],
)
def test_malformed_ordered_messages_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessageError, match=reason) as info:
        decode_ordered(raw)
    assert "\n" not in str(info.value)


def test_a_direct_message_of_an_ordered_kind_is_refused() -> None:
    with pytest.raises(MalformedMessageError, match="malformed direct message"):
        decode_direct(encode(Join(node="n1", inc=0)))
    with pytest.raises(MalformedMessageError, match="version: Input should be greater than or equal to 1"):
        decode_direct(encode(ConfigMsg(resource="r1", version=1, data="x")).replace(b'"version":1', b'"version":0'))
