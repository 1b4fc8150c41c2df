"""Wire messages: versioned, schema-validated, JSON on the wire.

Ordered (group) messages go through the engine's total order; direct messages are
point-to-point, and so are the data path's (WRITE, ACK), on channels of their own.
Every message is decoded with pydantic against a closed schema
(unknown fields, wrong types and unknown kinds are rejected), so a member never
acts on a malformed message: `decode_*` raises `MalformedMessageError` with a one-line
reason instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

WIRE_VERSION = 1

# Node and resource identifiers: short, printable, usable as file and key names.
Ident = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
Incarnation = Annotated[int, Field(ge=0)]
Position = Annotated[int, Field(ge=0)]
Version = Annotated[int, Field(ge=1)]
_IDENT: TypeAdapter[str] = TypeAdapter(Ident)


def first_invalid_ident(names: Iterable[str | None]) -> str | None:
    """The first of names (None skipped) that is not a valid node or resource identifier."""
    for name in names:
        if name is None:
            continue
        try:
            _IDENT.validate_python(name)
        except ValidationError:
            return name
    return None


class MalformedMessageError(ValueError):
    """A message that does not decode against the wire schema."""


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1  # WIRE_VERSION; a new version adds its literal here


class Join(_Wire):
    kind: Literal["JOIN"] = "JOIN"
    node: Ident
    inc: Incarnation


class Access(_Wire):
    kind: Literal["ACCESS"] = "ACCESS"
    node: Ident
    inc: Incarnation
    reaches: tuple[Ident, ...]  # the managed resources the joiner can open, in group order


class JoinDone(_Wire):
    kind: Literal["JOIN_DONE"] = "JOIN_DONE"
    node: Ident
    inc: Incarnation


Round = Annotated[int, Field(ge=0)]


class MirrorActive(_Wire):
    kind: Literal["MIRROR_ACTIVE"] = "MIRROR_ACTIVE"
    node: Ident
    inc: Incarnation
    resource: Ident
    round: Round = 0  # the mirroring round of the START_MIRROR it answers; an older one counts for nothing


class ResFail(_Wire):
    """The resource's host reports that the resource failed (an I/O error on it)."""

    kind: Literal["RES_FAIL"] = "RES_FAIL"
    node: Ident
    inc: Incarnation
    resource: Ident


class ResRepair(_Wire):
    """The resource's host reports that the failed resource works again."""

    kind: Literal["RES_REPAIR"] = "RES_REPAIR"
    node: Ident
    inc: Incarnation
    resource: Ident


class Fail(_Wire):
    """A membership change: the cluster detected that this incarnation failed."""

    kind: Literal["FAIL"] = "FAIL"
    node: Ident
    inc: Incarnation


Ordered = Annotated[Join | Access | JoinDone | MirrorActive | Fail | ResFail | ResRepair, Field(discriminator="kind")]


class SubgroupState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: Ident
    members: tuple[Ident, ...]  # in join order
    host: Ident | None
    mirror: Literal["none", "syncing", "active"]
    round: Round = 0  # its mirroring round: a repair or a failover on a resource failure starts a new one


class MemberRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    node: Ident
    inc: Incarnation
    status: Literal["joining", "placed", "active"]
    reaches: tuple[Ident, ...]  # recorded access set; empty while joining


class GroupStateBody(BaseModel):
    """The replicated group state as it travels in GROUP_STATE."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    primary: Ident
    subgroups: tuple[SubgroupState, ...]  # one per managed resource, in failover order
    members: tuple[MemberRecord, ...]
    lost: tuple[Ident, ...] = ()  # resources whose failure the group has delivered, not repaired since


class GroupStateMsg(_Wire):
    kind: Literal["GROUP_STATE"] = "GROUP_STATE"
    state: GroupStateBody
    position: Position  # ordered messages the state already reflects


class ConfigMsg(_Wire):
    kind: Literal["CONFIG"] = "CONFIG"
    resource: Ident
    version: Version
    data: str


# Client writes: a unique id the client chooses, a key of the production copy and its value.
WriteId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")]
Value = Annotated[str, Field(max_length=4096)]
Epoch = Annotated[int, Field(ge=0)]
CopyPosition = Annotated[int, Field(ge=1)]


class WriteRecord(BaseModel):
    """One write as a copy holds it: the epoch is the primary host's that took it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: WriteId
    key: Key
    value: Value
    epoch: Epoch


class StartMirror(_Wire):
    """Resynchronise a backup: the production copy's writes as they are now, under the sender's epoch."""

    kind: Literal["START_MIRROR"] = "START_MIRROR"
    resource: Ident  # the backup resource to synchronise
    production: Ident  # the primary resource it mirrors
    round: Round = 0  # the backup's mirroring round when it was sent: a later round makes it stale
    epoch: Epoch = 0
    writes: tuple[WriteRecord, ...] = ()


class DataWrite(_Wire):
    """A write the primary host took at `position` of its production copy, for one mirror."""

    kind: Literal["WRITE"] = "WRITE"
    resource: Ident  # the backup resource it is for
    position: CopyPosition
    write: WriteRecord


class DataAck(_Wire):
    """A backup host's word that its mirror holds the write."""

    kind: Literal["ACK"] = "ACK"
    resource: Ident
    id: WriteId


Direct = Annotated[GroupStateMsg | ConfigMsg | StartMirror, Field(discriminator="kind")]
Data = Annotated[DataWrite | DataAck, Field(discriminator="kind")]

_ORDERED: TypeAdapter[Join | Access | JoinDone | MirrorActive | Fail | ResFail | ResRepair] = TypeAdapter(Ordered)
_DIRECT: TypeAdapter[GroupStateMsg | ConfigMsg | StartMirror] = TypeAdapter(Direct)
_DATA: TypeAdapter[DataWrite | DataAck] = TypeAdapter(Data)

OrderedMsg = Join | Access | JoinDone | MirrorActive | Fail | ResFail | ResRepair
ResourceReport = ResFail | ResRepair
DirectMsg = GroupStateMsg | ConfigMsg | StartMirror
DataMsg = DataWrite | DataAck


def encode(msg: OrderedMsg | DirectMsg | DataMsg | ClientRequest | ClientAnswer) -> bytes:
    return msg.model_dump_json().encode()


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "message"
    return f"{where}: {first['msg']}"


def decode_ordered(raw: bytes) -> OrderedMsg:
    try:
        return _ORDERED.validate_json(raw)
    except ValidationError as exc:
        raise MalformedMessageError(f"malformed ordered message ({_reason(exc)})") from None


def decode_direct(raw: bytes) -> DirectMsg:
    try:
        return _DIRECT.validate_json(raw)
    except ValidationError as exc:
        raise MalformedMessageError(f"malformed direct message ({_reason(exc)})") from None


def decode_data(raw: bytes) -> DataMsg:
    try:
        return _DATA.validate_json(raw)
    except ValidationError as exc:
        raise MalformedMessageError(f"malformed data message ({_reason(exc)})") from None


# ---------------------------------------------------------------- clients of the data path

ClientId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$")]


class ClientRequest(_Wire):
    """A client's request to a node: write `value` under `key`, or read `key`.

    The write id in the copies is `<client>:<id>`, so two clients never collide."""

    kind: Literal["REQUEST"] = "REQUEST"
    op: Literal["write", "read"]
    id: RequestId
    key: Key
    value: Value | None = None


AnswerStatus = Literal["acked", "refused", "unknown", "value"]


class ClientAnswer(_Wire):
    """A node's answer to one request. `acked`: the production copy and every active or
    synchronising mirror hold the write durably; `refused`: it was not taken (the reason
    says why; `primary` names the primary host this node knows of); `unknown`: taken, but
    its host failed before every mirror acknowledged it; `value`: a read's answer (None:
    the key was never written)."""

    kind: Literal["ANSWER"] = "ANSWER"
    id: RequestId
    status: AnswerStatus
    reason: str = ""
    primary: Ident | None = None
    position: int = Field(default=0, ge=0)
    epoch: Epoch = 0
    value: Value | None = None


_REQUEST: TypeAdapter[ClientRequest] = TypeAdapter(ClientRequest)
_ANSWER: TypeAdapter[ClientAnswer] = TypeAdapter(ClientAnswer)


def decode_request(raw: bytes) -> ClientRequest:
    try:
        request = _REQUEST.validate_json(raw)
    except ValidationError as exc:
        raise MalformedMessageError(f"malformed request ({_reason(exc)})") from None
    if (request.op == "write") != (request.value is not None):
        raise MalformedMessageError("malformed request (a write carries a value, a read none)")
    return request


def decode_answer(raw: bytes) -> ClientAnswer:
    try:
        return _ANSWER.validate_json(raw)
    except ValidationError as exc:
        raise MalformedMessageError(f"malformed answer ({_reason(exc)})") from None
