"""The data path's client: writes and reads through a group's primary host, over etcd.

Why etcd-mediated requests rather than a socket on each node: etcd already is the
group's one authenticated, TLS-protected and permissioned transport, and an answer is
written in the same transaction as the protocol step that decided it, conditioned on the
answering incarnation's liveness key. A node whose lease has expired can therefore never
acknowledge anything, however long it was paused: its FAIL can only be written after
that key is gone, so every acknowledgement precedes, in etcd's order, the failover that
deposes its writer. No clock is trusted for fencing.

A request is the key `requests/<client>/<node>/<id>` (etcd's RBAC lets a client write
only its own); its answer is `answers/<node>/<client>/<id>`. The write id in the copies
is `<client>:<id>`. A refused request was not taken, so the client retries it (under a
fresh id) at the primary host the refusal names, until its deadline; an answer that does
not come in time is *unknown*: the write may or may not have been taken.

This module imports only the etcd client and the wire schemas, so an application can
use it without the rest of the node.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from pbjoin.etcd.client import EtcdConnection, KeyValue, key_absent, key_created_at, put_op
from pbjoin.etcd.status import read_stream
from pbjoin.etcd.stream import Keys
from pbjoin.wire import AnswerStatus, ClientAnswer, ClientRequest, MalformedMessageError, decode_answer, encode

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Result:
    """What a client learnt: `acked`, `refused`, `unknown` (no answer in time), or a read's `value`."""

    status: AnswerStatus
    write_id: str  # `<client>:<id>` of the last attempt, as the copies hold it
    node: str | None  # who answered (or was asked last)
    reason: str = ""
    position: int = 0
    epoch: int = 0
    value: str | None = None
    attempts: int = 1
    seconds: float = 0.0


class GroupClient:
    def __init__(
        self,
        conn: EtcdConnection,
        group: str,
        client: str,
        resources: tuple[str, ...],
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.conn = conn
        self.keys = Keys(group)
        self.group = group
        self.client = client
        self.resources = resources
        self.timeout = timeout
        self.primary: str | None = None  # the primary host as last learnt
        self._nonce = secrets.token_hex(4)  # request ids never repeat across client processes
        self._seq = 0

    def find_primary(self) -> str | None:
        """The primary host after the group's whole ordered stream, if it is live."""
        stream = read_stream(self.conn, self.group)
        host = stream.group_state(self.resources).primary_host
        live = host is not None and any(n == host and stream.in_group((n, i)) for n, i in stream.live)
        return host if live else None

    def write(self, key: str, value: str) -> Result:
        return self._request("write", key, value)

    def read(self, key: str) -> Result:
        return self._request("read", key, None)

    def _next_id(self) -> str:
        self._seq += 1
        return f"{self._nonce}-{self._seq}"

    def _live_key(self, node: str) -> KeyValue | None:
        """The liveness key of node's newest live incarnation."""
        _, keys = self.conn.get_prefix(self.keys.member_prefix(node))
        return max(keys, key=lambda kv: kv.create_revision, default=None)

    def _request(self, op: str, key: str, value: str | None) -> Result:
        started = time.monotonic()
        deadline = started + self.timeout
        attempts = 0
        last = Result("refused", "", None, "no primary host found")
        while time.monotonic() < deadline:
            node = self.primary or self.find_primary()
            live = None if node is None else self._live_key(node)
            if node is None or live is None:
                self.primary = None
                time.sleep(0.2)
                continue
            attempts += 1
            request_id = self._next_id()
            write_id = f"{self.client}:{request_id}"
            request = ClientRequest.model_validate({"op": op, "id": request_id, "key": key, "value": value})
            where = self.keys.request(self.client, node, request_id)
            # Only while that incarnation is live: a request it never saw is one nobody took.
            sent, _ = self.conn.txn(
                [key_absent(where), key_created_at(live.key, live.create_revision)], [put_op(where, encode(request))]
            )
            if not sent:
                self.primary = None
                continue
            answer = self._await(self.keys.answer(node, self.client, request_id), live, deadline)
            if answer is None:
                reason = f"no answer from {node}: the write may or may not have been taken"
                return Result("unknown", write_id, node, reason, attempts=attempts, seconds=time.monotonic() - started)
            last = Result(
                answer.status,
                write_id,
                node,
                answer.reason,
                answer.position,
                answer.epoch,
                answer.value,
                attempts,
                time.monotonic() - started,
            )
            if answer.status != "refused":
                self.primary = node
                return last
            # Not taken: ask the primary host the refusal names, or look it up again.
            self.primary = answer.primary if answer.primary not in (None, node) else None
            if self.primary is None:
                time.sleep(0.1)
        return last

    def _await(self, key: str, live: KeyValue, deadline: float) -> ClientAnswer | None:
        """The answer, or None once the deadline passed or the answering incarnation is gone
        (an answer is only ever committed while its liveness key exists)."""
        pause, checked = 0.002, time.monotonic()
        while True:
            kv = self.conn.get(key)
            if kv is not None:
                return self._decoded(kv.value)
            now = time.monotonic()
            if now + pause > deadline:
                return None
            if now - checked > 0.25:
                current = self.conn.get(live.key)
                if current is None or current.create_revision != live.create_revision:
                    kv = self.conn.get(key)  # it may have answered just before it went
                    return None if kv is None else self._decoded(kv.value)
                checked = now
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    @staticmethod
    def _decoded(raw: bytes) -> ClientAnswer | None:
        try:
            return decode_answer(raw)
        except MalformedMessageError:
            return None
