"""Where Kafka and Cassandra are and how to authenticate, built from the settings.

Kept apart from the click options so the client packages (``logpipe.kafka``,
``logpipe.cassandra``) depend on plain data only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logpipe.config.settings import BOOTSTRAP_SERVERS, CONTACT_POINTS, KEYSPACE


def read_secret(value: str | None, path: str | None) -> str | None:
    """A password given directly or in a file (a mounted Kubernetes Secret).

    The file wins when both are given; one trailing newline is removed.
    """
    if path:
        text = Path(path).read_text(encoding="utf-8")
        return text[:-1] if text.endswith("\n") else text
    return value or None


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is and how to authenticate; the password never shows in repr."""

    bootstrap_servers: str = BOOTSTRAP_SERVERS.default
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> KafkaConnection:
        """Build from the click keyword arguments of the KAFKA settings."""
        return cls(
            bootstrap_servers=opts["bootstrap_servers"],
            security_protocol=opts.get("kafka_security_protocol"),
            sasl_mechanism=opts.get("kafka_sasl_mechanism"),
            sasl_username=opts.get("kafka_sasl_username"),
            sasl_password=read_secret(
                opts.get("kafka_sasl_password"), opts.get("kafka_sasl_password_file")
            ),
            ca_file=opts.get("kafka_ca_file"),
            cert_file=opts.get("kafka_cert_file"),
            key_file=opts.get("kafka_key_file"),
        )

    def protocol(self) -> str:
        """The security protocol: as given, or implied by SASL and TLS options."""
        if self.security_protocol:
            return self.security_protocol.upper()
        tls = bool(self.ca_file or self.cert_file)
        if self.sasl_mechanism:
            return "SASL_SSL" if tls else "SASL_PLAINTEXT"
        return "SSL" if tls else "PLAINTEXT"


@dataclass(frozen=True)
class CassandraConnection:
    """Where Cassandra is and how to authenticate; the password never shows in repr."""

    contact_points: str = CONTACT_POINTS.default
    keyspace: str = KEYSPACE.default
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> CassandraConnection:
        """Build from the click keyword arguments of the CASSANDRA settings."""
        return cls(
            contact_points=opts["contact_points"],
            keyspace=opts["keyspace"],
            username=opts.get("cassandra_username"),
            password=read_secret(
                opts.get("cassandra_password"), opts.get("cassandra_password_file")
            ),
            ca_file=opts.get("cassandra_ca_file"),
            cert_file=opts.get("cassandra_cert_file"),
            key_file=opts.get("cassandra_key_file"),
        )
