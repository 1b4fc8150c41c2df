"""The step log: one JSON line per protocol step, the raw material for conformance.

The first line describes the cluster (nodes, managed resources, which node reaches
which resource); every further line is one step of one member: the step's name and
parameters (the spec's action names), what it consumed, what it multicast and sent,
the effects it performed, why it ignored anything, and the member's state after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

StepName = Literal[
    "Join",
    "ReceiveGroupState",
    "RecoverGroupState",
    "Deliver",
    "ReceiveConfig",
    "ReceiveStartMirror",
    "ChangeConfig",
    "Crash",
    "Restart",
    "Write",  # a client's write, taken by whoever acts as primary host
    "Pause",  # a primary host stopped past its lease: failed by the group, still acting on its view
    "ReceiveWrite",
    "ReceiveAck",
    "ReportFailure",  # a host's probe found its resource failed: it multicasts RES_FAIL
    "ReportRepair",  # a host's probe found its lost resource working again: it multicasts RES_REPAIR
    "Discard",  # a malformed or stale message taken off a channel and rejected
    "Refuse",  # a message the receiver's view does not let its sender send: one no member sent
    "DiscardData",  # a malformed or stale data-path message taken off a data channel and rejected
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClusterRecord(_Record):
    record: Literal["cluster"] = "cluster"
    group: str
    nodes: tuple[str, ...]
    resources: tuple[str, ...]  # the group's resources in failover order; the first starts primary
    access: dict[str, tuple[str, ...]]  # per node: the resources it reaches
    engine: str


class SentRecord(_Record):
    to: str
    to_inc: int
    msg: dict[str, Any]
    delivered: bool  # False when the receiver had already failed


class MemberSummary(_Record):
    phase: str
    position: int
    view: dict[str, Any] | None
    configs: dict[str, int]
    epoch: int = 0
    paused: bool = False
    pending: dict[str, list[str]] = Field(default_factory=dict)  # write id -> mirrors it waits for
    reports: list[str] = Field(default_factory=list)  # its RES_FAIL / RES_REPAIR in flight ("RES_FAIL r1")


class AnswerRecord(_Record):
    """What a write's client was told at this step."""

    id: str
    status: Literal["acked", "refused", "unknown"]
    position: int  # in the production copy; 0 if refused
    epoch: int  # the writer's
    reason: str = ""


class StepRecord(_Record):
    record: Literal["step"] = "step"
    seq: int
    member: str
    inc: int
    step: StepName
    params: dict[str, str]
    consumed: dict[str, Any] | None = None
    position: int | None = None  # where the consumed ordered message sits in the total order
    multicast: list[dict[str, Any]] = Field(default_factory=list)
    multicast_at: list[int] = Field(default_factory=list)  # their positions in the total order
    sent: list[SentRecord] = Field(default_factory=list)
    data_sent: list[SentRecord] = Field(default_factory=list)  # WRITE and ACK, on the data channels
    answers: list[AnswerRecord] = Field(default_factory=list)
    effects: list[str] = Field(default_factory=list)
    # After a mirror's synchronisation: the SHA-256 digest of the data files of the mirror
    # and of the production copy it was synchronised from, as read back from the disks.
    data: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    post: MemberSummary
    # Logged before the step ran (`post` is the state before it): a later copy of the step
    # replaces it, so one left alone means the process died inside the step, after or
    # before its effects on the resources; conformance considers both.
    intent: bool = False
    # Not logged by any process: a crash or restart the merge of many logs infers
    # (`pbjoin_model.conformance.logs`); what its clients were told nobody observed.
    synthesised: bool = False


LogRecord = Annotated[ClusterRecord | StepRecord, Field(discriminator="record")]
_RECORD: TypeAdapter[ClusterRecord | StepRecord] = TypeAdapter(LogRecord)


class LogError(ValueError):
    """A step log that cannot be read."""


class StepSink(Protocol):
    def write(self, record: ClusterRecord | StepRecord) -> None: ...


class MemoryLog:
    def __init__(self) -> None:
        self.records: list[ClusterRecord | StepRecord] = []

    def write(self, record: ClusterRecord | StepRecord) -> None:
        self.records.append(record)


class JsonLineLog:
    """Appends each record as one JSON line and flushes it, so a crash loses no step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: ClusterRecord | StepRecord) -> None:
        self._file.write(record.model_dump_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_log(path: Path) -> tuple[ClusterRecord, list[StepRecord]]:
    """Parse a step log; a bad line is reported with its line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LogError(f"cannot read {path}: {exc.strerror}") from None
    return parse_log(lines, str(path))


def parse_log(lines: list[str], name: str = "<log>") -> tuple[ClusterRecord, list[StepRecord]]:
    records: list[ClusterRecord | StepRecord] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(_RECORD.validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "record"
            raise LogError(f"{name}:{number}: not a step-log record ({where}: {first['msg']})") from None
    if not records or not isinstance(records[0], ClusterRecord):
        raise LogError(f"{name}: the first record must describe the cluster")
    steps: list[StepRecord] = []
    for number, rec in enumerate(records[1:], 2):
        if not isinstance(rec, StepRecord):
            raise LogError(f"{name}: record {number} describes a second cluster")
        steps.append(rec)
    return records[0], steps
