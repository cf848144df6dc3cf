"""Readiness checks that speak the servers' own wire protocols, with the standard library only.

`ctl up` returns only when Kafka answers a Metadata request with a live controller and
Cassandra answers a CQL query. Speaking the protocols directly keeps ctl independent of the
project's virtualenv and makes a check of running servers take milliseconds.
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass


class ProbeError(Exception):
    """The server did not answer as a ready server does."""


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ProbeError("connection closed")
        chunks += chunk
    return bytes(chunks)


def _connect(host: str, port: int, timeout: float, tls: ssl.SSLContext | None) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls is not None:
        return tls.wrap_socket(sock, server_hostname=host)
    return sock


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str | None:
        size = self.take(">h")
        if size < 0:
            return None
        value = self.data[self.pos : self.pos + size].decode()
        self.pos += size
        return value

    def bytes_(self) -> bytes | None:
        size = self.take(">i")
        if size < 0:
            return None
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value


# --- Kafka -----------------------------------------------------------------------------


@dataclass
class KafkaInfo:
    brokers: list[tuple[int, str, int]]
    cluster_id: str | None
    controller_id: int


def _kafka_request(sock: socket.socket, api_key: int, version: int, body: bytes) -> _Reader:
    client_id = b"logpipe-services-probe"
    header = struct.pack(">hhih", api_key, version, 7, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _recv_exact(sock, 4))[0]
    reader = _Reader(_recv_exact(sock, size))
    if reader.take(">i") != 7:
        raise ProbeError("unexpected correlation id")
    return reader


def kafka_metadata(
    host: str, port: int, timeout: float = 3.0, tls: ssl.SSLContext | None = None
) -> KafkaInfo:
    """Send Metadata v4 (no topics) and return brokers, cluster id and controller id.

    Kafka 4 dropped Metadata v0-v3; v4 is the oldest left and, being before the flexible
    versions, has a plain encoding.
    """
    with _connect(host, port, timeout, tls) as sock:
        # topics: empty array (not null: null would list every topic); no auto-creation
        reader = _kafka_request(sock, 3, 4, struct.pack(">ib", 0, 0))
    reader.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(reader.take(">i")):
        node_id = reader.take(">i")
        broker_host = reader.string() or ""
        broker_port = reader.take(">i")
        reader.string()  # rack
        brokers.append((node_id, broker_host, broker_port))
    cluster_id = reader.string()
    controller_id = reader.take(">i")
    return KafkaInfo(brokers=brokers, cluster_id=cluster_id, controller_id=controller_id)


def kafka_api_versions(
    host: str, port: int, timeout: float = 3.0, tls: ssl.SSLContext | None = None
) -> int:
    """Send ApiVersions v0, which a broker answers before any authentication.

    The secure profile's listener wants SASL before anything else, so this is how ctl sees
    it is up (TLS included). Returns how many APIs the broker lists.
    """
    try:
        with _connect(host, port, timeout, tls) as sock:
            reader = _kafka_request(sock, 18, 0, b"")
        error = reader.take(">h")
        count = reader.take(">i")
    except (OSError, struct.error) as exc:
        raise ProbeError(f"kafka {host}:{port}: {exc}") from exc
    if error != 0 or count <= 0:
        raise ProbeError(f"kafka {host}:{port}: ApiVersions error {error}")
    return count


def kafka_ready(host: str, port: int, timeout: float = 3.0) -> KafkaInfo:
    """Raise ProbeError unless the broker lists itself and knows its controller."""
    try:
        info = kafka_metadata(host, port, timeout)
    except (OSError, struct.error) as exc:
        raise ProbeError(f"kafka {host}:{port}: {exc}") from exc
    if not info.brokers or info.controller_id < 0:
        raise ProbeError(f"kafka {host}:{port}: no broker or controller yet")
    return info


# --- Cassandra (CQL native protocol v4) ----------------------------------------------

_CQL_VERSION = 0x04
_OP_ERROR, _OP_STARTUP, _OP_READY, _OP_AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
_OP_QUERY, _OP_RESULT, _OP_AUTH_RESPONSE, _OP_AUTH_SUCCESS = 0x07, 0x08, 0x0F, 0x10


def _cql_string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def _cql_frame(sock: socket.socket, opcode: int, body: bytes) -> tuple[int, _Reader]:
    sock.sendall(struct.pack(">BBhBi", _CQL_VERSION, 0, 1, opcode, len(body)) + body)
    _version, _flags, _stream, op, length = struct.unpack(">BBhBi", _recv_exact(sock, 9))
    reader = _Reader(_recv_exact(sock, length))
    if op == _OP_ERROR:
        code = reader.take(">i")
        raise ProbeError(f"CQL error {code:#06x}: {reader.string()}")
    return op, reader


def cql_execute(
    host: str,
    port: int,
    statements: list[str],
    timeout: float = 10.0,
    credentials: tuple[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Run statements whose results do not matter (schema, roles) on one connection."""
    try:
        with _connect(host, port, timeout, tls) as sock:
            _cql_startup(sock, credentials)
            for statement in statements:
                data = statement.encode()
                body = struct.pack(">i", len(data)) + data + struct.pack(">hB", 0x0001, 0)
                op, _reader = _cql_frame(sock, _OP_QUERY, body)
                if op != _OP_RESULT:
                    raise ProbeError(f"{statement[:40]}...: answered opcode {op:#04x}")
    except (OSError, struct.error) as exc:
        raise ProbeError(f"cassandra {host}:{port}: {exc}") from exc


def _cql_startup(sock: socket.socket, credentials: tuple[str, str] | None) -> None:
    op, _reader = _cql_frame(
        sock,
        _OP_STARTUP,
        struct.pack(">h", 1) + _cql_string("CQL_VERSION") + _cql_string("3.0.0"),
    )
    if op == _OP_AUTHENTICATE:
        if credentials is None:
            raise ProbeError("server asks for credentials")
        token = b"\x00" + credentials[0].encode() + b"\x00" + credentials[1].encode()
        op, _reader = _cql_frame(sock, _OP_AUTH_RESPONSE, struct.pack(">i", len(token)) + token)
        if op != _OP_AUTH_SUCCESS:
            raise ProbeError(f"authentication answered opcode {op:#04x}")
    elif op != _OP_READY:
        raise ProbeError(f"STARTUP answered opcode {op:#04x}")


def cql_query_text(
    host: str,
    port: int,
    query: str,
    timeout: float = 3.0,
    credentials: tuple[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> list[list[str | None]]:
    """Run one query whose columns are all text and return its rows."""
    with _connect(host, port, timeout, tls) as sock:
        _cql_startup(sock, credentials)
        data = query.encode()
        body = struct.pack(">i", len(data)) + data + struct.pack(">hB", 0x0001, 0)
        op, reader = _cql_frame(sock, _OP_QUERY, body)
    if op != _OP_RESULT or reader.take(">i") != 0x0002:
        raise ProbeError("query did not return rows")
    flags = reader.take(">i")
    columns = reader.take(">i")
    if flags & 0x0002:
        reader.bytes_()  # paging state
    if flags & 0x0001:
        reader.string()
        reader.string()
    for _ in range(columns):
        if not flags & 0x0001:
            reader.string()
            reader.string()
        reader.string()  # column name
        reader.take(">h")  # type id: the caller asks for text columns only
    rows = []
    for _ in range(reader.take(">i")):
        row = []
        for _ in range(columns):
            value = reader.bytes_()
            row.append(None if value is None else value.decode())
        rows.append(row)
    return rows


def cassandra_ready(
    host: str,
    port: int,
    timeout: float = 3.0,
    credentials: tuple[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> str:
    """Return the release version once the node answers CQL; raise ProbeError before."""
    try:
        rows = cql_query_text(
            host,
            port,
            "SELECT release_version FROM system.local",
            timeout,
            credentials=credentials,
            tls=tls,
        )
    except (OSError, struct.error) as exc:
        raise ProbeError(f"cassandra {host}:{port}: {exc}") from exc
    if not rows or not rows[0][0]:
        raise ProbeError(f"cassandra {host}:{port}: system.local is empty")
    return rows[0][0]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections there."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
