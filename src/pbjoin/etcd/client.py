"""A connection to an etcd cluster through its JSON gRPC gateway (the etcd3gw client).

etcd3gw speaks etcd's own HTTP/JSON gateway, so it needs no protobuf or gRPC stack;
this module adds what a long-lived member needs on top of it: several endpoints
(a request that cannot reach one tries the next, so losing one etcd server, the
leader included, is survived), password authentication with the token renewed
when etcd expires it, TLS verification against the group's CA, and a watch that
resumes from the last revision it handed out after any reconnect.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError, Etcd3Exception

# etcd3gw's errors for a server that is gone, slow or has no leader (503): try the next endpoint.
_LOST = (ConnectionFailedError, ConnectionTimeoutError)


class EtcdError(RuntimeError):
    """etcd refused a request or cannot be reached; the message is one line."""


class EtcdUnreachableError(EtcdError):
    """No endpoint answered."""


class EtcdTlsError(EtcdError):
    """No endpoint could be reached over TLS as configured: retrying will not help."""


class EtcdAmbiguousError(EtcdError):
    """The connection broke after a write was sent: it may or may not have been committed."""


class EtcdAccessDeniedError(EtcdError):
    """Authentication failed or the user lacks permission for the request."""


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def unb64(data: str) -> bytes:
    return base64.b64decode(data)


def prefix_end(prefix: str) -> str:
    """The range end that makes [prefix, end) exactly the keys starting with prefix."""
    raw = prefix.encode()
    return b64(raw[:-1] + bytes([raw[-1] + 1]))


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True)
class WatchEvent:
    deleted: bool
    kv: KeyValue


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=unb64(raw["key"]).decode(),
        value=unb64(raw.get("value", "")),
        create_revision=int(raw.get("create_revision", 0)),
        mod_revision=int(raw.get("mod_revision", 0)),
        version=int(raw.get("version", 0)),
        lease=int(raw.get("lease", 0)),
    )


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


class EtcdConnection:
    """Requests to any of several endpoints of one etcd cluster, authenticated if asked."""

    def __init__(
        self,
        endpoints: list[str],
        credentials: Credentials | None = None,
        ca_cert: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        if not endpoints:
            raise EtcdError("no etcd endpoint given")
        self.endpoints = endpoints
        self.credentials = credentials
        self.ca_cert = ca_cert
        self.timeout = timeout
        self._current = 0
        self._token: str | None = None
        self._lock = threading.Lock()
        self._clients = [self._client(url) for url in endpoints]

    def _client(self, url: str) -> Etcd3Client:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
            raise EtcdError(f"bad etcd URL {url!r} (want http[s]://host:port)")
        session = requests.Session()
        # The environment's CA bundle and proxies must not override the group's CA (requests
        # lets them win over session.verify), and etcd is never reached through a proxy.
        session.trust_env = False
        if self.ca_cert is not None:
            session.verify = self.ca_cert
        return Etcd3Client(
            host=parts.hostname,
            port=parts.port,
            protocol=parts.scheme,
            timeout=self.timeout,
            api_path="/v3/",  # etcd 3.4 and later: no discovery round trip
            session=session,
        )

    # ------------------------------------------------------------ plain requests

    def post(self, path: str, body: dict[str, Any], resend: bool = True) -> dict[str, Any]:
        """POST to the first endpoint that answers; re-authenticate once if the token expired.

        With resend=False a request that may have reached a server is not sent again
        elsewhere: EtcdAmbiguousError lets the caller find out whether it took effect.
        """
        for attempt in range(2):
            try:
                return self._post_any(path, body, resend)
            except EtcdAccessDeniedError as exc:
                if attempt == 0 and self.credentials is not None and "token" in str(exc):
                    self._token = None
                    continue
                raise
        raise AssertionError("unreachable")

    def _post_any(self, path: str, body: dict[str, Any], resend: bool) -> dict[str, Any]:
        errors: list[str] = []
        for _ in range(len(self._clients)):
            index = self._current
            client = self._clients[index]
            try:
                self._authenticate(client)
                result: dict[str, Any] = client.post(client.get_url(path), data=json.dumps(body))
                return result
            except _LOST as exc:
                errors.append(f"{self.endpoints[index]}: {_connection_problem(exc)}")
                with self._lock:
                    if self._current == index:
                        self._current = (index + 1) % len(self._clients)
                if not resend and "refused" not in str(exc).lower():
                    raise EtcdAmbiguousError(f"etcd connection lost during a write ({errors[-1]})") from None
            except Etcd3Exception as exc:
                raise _refusal(exc) from None
        if all(": TLS: " in e for e in errors):
            raise EtcdTlsError(f"etcd TLS failed ({'; '.join(errors)})")
        raise EtcdUnreachableError(f"etcd unreachable ({'; '.join(errors)})")

    def _authenticate(self, client: Etcd3Client) -> None:
        if self.credentials is None:
            return
        if self._token is None:
            # etcd checks a token sent with /auth/authenticate too: the expired one must go
            # first, or logging in again is refused with the very error it is meant to cure.
            client.session.headers.pop("Authorization", None)
            try:
                reply = client.post(
                    client.get_url("/auth/authenticate"),
                    json={"name": self.credentials.user, "password": self.credentials.password},
                )
            except _LOST:
                raise
            except Etcd3Exception as exc:
                raise _refusal(exc) from None
            self._token = str(reply["token"])
        for c in self._clients:
            c.session.headers["Authorization"] = self._token

    # ------------------------------------------------------------ key-value

    def get_prefix(self, prefix: str) -> tuple[int, list[KeyValue]]:
        """All keys under prefix (sorted by key) and the store revision they were read at."""
        reply = self.post("/kv/range", {"key": b64(prefix), "range_end": prefix_end(prefix)})
        return int(reply["header"]["revision"]), [_kv(kv) for kv in reply.get("kvs", [])]

    def latest_revision_under(self, prefix: str) -> int:
        """The newest mod revision of a key under prefix (0: none), ignoring every other key in etcd.

        The store revision in a response header counts every write to etcd, other groups'
        and unrelated keys included, so a watch of one prefix never reaches it.
        """
        reply = self.post(
            "/kv/range",
            {
                "key": b64(prefix),
                "range_end": prefix_end(prefix),
                "limit": 1,
                "sort_order": "DESCEND",
                "sort_target": "MOD",
                "keys_only": True,
            },
        )
        kvs = reply.get("kvs", [])
        return int(kvs[0]["mod_revision"]) if kvs else 0

    def get(self, key: str) -> KeyValue | None:
        reply = self.post("/kv/range", {"key": b64(key)})
        kvs = reply.get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def put(self, key: str, value: bytes, lease: int = 0) -> int:
        body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = lease
        return int(self.post("/kv/put", body)["header"]["revision"])

    def txn(
        self, compare: list[dict[str, Any]], success: list[dict[str, Any]], resend: bool = True
    ) -> tuple[bool, int]:
        """One transaction: (succeeded, revision). Build the parts with the helpers below.

        resend=False: see `post`; for transactions that must not be applied twice.
        """
        reply = self.post("/kv/txn", {"compare": compare, "success": success}, resend)
        return bool(reply.get("succeeded", False)), int(reply["header"]["revision"])

    # ------------------------------------------------------------ leases

    def grant_lease(self, ttl: int) -> int:
        return int(self.post("/lease/grant", {"TTL": ttl, "ID": 0})["ID"])

    def keep_alive(self, lease: int) -> int:
        """Refresh the lease; the remaining TTL, or -1 once it has expired."""
        reply = self.post("/lease/keepalive", {"ID": lease})
        return int(reply.get("result", {}).get("TTL", -1))

    def revoke_lease(self, lease: int) -> None:
        self.post("/kv/lease/revoke", {"ID": lease})

    # ------------------------------------------------------------ watch

    def watch_prefix(self, prefix: str, start_revision: int, stop: threading.Event) -> Iterator[list[WatchEvent]]:
        """Every change under prefix from start_revision on, in revision order, one list per revision.

        The stream survives a lost connection or endpoint: it reconnects (to the next
        endpoint if need be) and resumes after the last revision it yielded, so no
        change is lost or repeated.
        """
        next_revision = start_revision
        while not stop.is_set():
            try:
                for batch in self._watch_once(prefix, next_revision, stop):
                    next_revision = batch[0].kv.mod_revision + 1
                    yield batch
            except (requests.RequestException, *_LOST, EtcdError, ValueError) as exc:
                # Logging in again can meet a dead server or one mid-election (503): next endpoint.
                if isinstance(exc, EtcdAccessDeniedError) and "token" in str(exc):
                    self._token = None  # expired: authenticate again on the next attempt
                with self._lock:
                    self._current = (self._current + 1) % len(self._clients)
                stop.wait(0.2)

    def _watch_once(self, prefix: str, start_revision: int, stop: threading.Event) -> Iterator[list[WatchEvent]]:
        client = self._clients[self._current]
        self._authenticate(client)
        request = {
            "create_request": {
                "key": b64(prefix),
                "range_end": prefix_end(prefix),
                "start_revision": start_revision,
                "progress_notify": True,
            }
        }
        with client.session.post(
            client.get_url("/watch"), data=json.dumps(request), stream=True, timeout=(self.timeout, 15.0)
        ) as resp:
            if resp.status_code != 200:
                raise _refusal(Etcd3Exception(resp.text, resp.reason))
            for line in _lines(resp):
                if stop.is_set():
                    return
                chunk = json.loads(line)
                if "error" in chunk:
                    raise _refusal(Etcd3Exception(json.dumps(chunk["error"])))
                result = chunk.get("result", {})
                if result.get("canceled"):
                    # An expired auth token cancels the watch at creation (etcd answers 200 with a
                    # cancel reason, not an error): classified like any refusal, so that it
                    # re-authenticates instead of retrying the dead token forever.
                    raise _refusal(Etcd3Exception(f"watch canceled: {result.get('cancel_reason', 'no reason given')}"))
                events = [
                    WatchEvent(deleted=e.get("type") == "DELETE", kv=_kv(e["kv"])) for e in result.get("events", [])
                ]
                # One response may hold several revisions; hand them out one revision at a time.
                batch: list[WatchEvent] = []
                for event in events:
                    if batch and batch[0].kv.mod_revision != event.kv.mod_revision:
                        yield batch
                        batch = []
                    batch.append(event)
                if batch:
                    yield batch


def _lines(resp: requests.Response) -> Iterator[bytes]:
    """The stream's lines as soon as each is complete (iter_lines would wait for a full buffer)."""
    pending = b""
    for data in resp.iter_content(chunk_size=None):
        pending += data
        *lines, pending = pending.split(b"\n")
        yield from (line for line in lines if line.strip())


def _connection_problem(exc: Etcd3Exception) -> str:
    """Why a connection failed, in the operator's terms (a TLS mistake is not an outage)."""
    text = str(exc.detail_text or "")
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS: its certificate is not trusted (give the CA that signed it with --ca)"
    if "WRONG_VERSION_NUMBER" in text.upper():
        return "TLS: it does not speak TLS (use http://)"
    if "RemoteDisconnected" in text:
        return "closed the connection without answering (if it serves TLS, use https://)"
    if "Connection reset" in text or "Connection aborted" in text:
        # what a TLS server does to plain HTTP when it answers before the request is read
        return "reset the connection (if it serves TLS, use https://)"
    if "Connection refused" in text:
        return "connection refused"
    return type(exc).__name__


def _refusal(exc: Etcd3Exception) -> EtcdError:
    text = exc.detail_text or " ".join(str(a) for a in exc.args) or type(exc).__name__
    try:
        body = json.loads(text)
        detail = str(body.get("error") or body.get("message") or text)
    except (ValueError, AttributeError):
        detail = text
    detail = " ".join(detail.split())
    lowered = detail.lower()
    if any(w in lowered for w in ("permission denied", "authentication failed", "token", "user name is empty")):
        return EtcdAccessDeniedError(f"etcd refused: {detail}")
    return EtcdError(f"etcd refused: {detail}")


# ---------------------------------------------------------------- transaction parts


def key_absent(key: str) -> dict[str, Any]:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def key_created_at(key: str, revision: int) -> dict[str, Any]:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": str(revision)}


def key_modified_at(key: str, revision: int) -> dict[str, Any]:
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}


def put_op(key: str, value: bytes, lease: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease:
        body["lease"] = lease
    return {"request_put": body}


def delete_op(key: str) -> dict[str, Any]:
    return {"request_delete_range": {"key": b64(key)}}
