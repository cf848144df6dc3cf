"""Where Kafka and Cassandra are and how to authenticate, built from the settings.

Kept apart from the click options so the client packages (``logpipe.kafka``,
``logpipe.cassandra``) depend on plain data only.

The security rules live here, once for every client: credentials never cross the network
in clear unless the operator said so (``allow_plaintext_credentials``; otherwise building
the connection is a ValueError that names the way out), certificates are checked against
the host name unless the operator said otherwise, and both exceptions are logged as a
warning at every start (``from_options``). Passwords come from a file or the environment,
never from a flag.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logpipe.config.registry import Setting
from logpipe.config.settings import (
    ALLOW_PLAINTEXT_CREDENTIALS,
    BOOTSTRAP_SERVERS,
    CASSANDRA_PASSWORD,
    CONTACT_POINTS,
    KAFKA_SASL_PASSWORD,
    KEYSPACE,
)

log = logging.getLogger("logpipe.config")


def read_secret(setting: Setting, path: str | None) -> str | None:
    """A password from its file (a mounted Kubernetes Secret) or its environment variable.

    The file wins when both are given; one trailing newline is removed. There is no flag
    to read: a command line is visible to every user of the host.
    """
    if path:
        text = Path(path).read_text(encoding="utf-8")
        return text[:-1] if text.endswith("\n") else text
    return os.environ.get(setting.env) or None


def _plaintext_refused(what: str, how: str) -> ValueError:
    return ValueError(
        f"{what} without TLS would send the credentials in clear: {how}, or give "
        f"{ALLOW_PLAINTEXT_CREDENTIALS.flag} to accept that"
    )


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
    #: Check that the broker's certificate names the host connected to.
    verify_hostname: bool = True
    #: Accept SASL without TLS (the credentials readable on the network).
    allow_plaintext_credentials: bool = False

    def __post_init__(self) -> None:
        if self.protocol() == "SASL_PLAINTEXT" and not self.allow_plaintext_credentials:
            raise _plaintext_refused(
                f"SASL {self.sasl_mechanism or ''}".rstrip(),
                "give --kafka-ca-file (or --kafka-security-protocol SASL_SSL)",
            )

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> KafkaConnection:
        """Build from the click keyword arguments of the KAFKA settings; log at start-up
        what weakens the connection's security."""
        conn = cls(
            bootstrap_servers=opts["bootstrap_servers"],
            security_protocol=opts.get("kafka_security_protocol"),
            sasl_mechanism=opts.get("kafka_sasl_mechanism"),
            sasl_username=opts.get("kafka_sasl_username"),
            sasl_password=read_secret(KAFKA_SASL_PASSWORD, opts.get("kafka_sasl_password_file")),
            ca_file=opts.get("kafka_ca_file"),
            cert_file=opts.get("kafka_cert_file"),
            key_file=opts.get("kafka_key_file"),
            verify_hostname=not opts.get("kafka_no_verify_hostname"),
            allow_plaintext_credentials=bool(opts.get("allow_plaintext_credentials")),
        )
        conn.warn_weakened()
        return conn

    def protocol(self) -> str:
        """The security protocol: as given, or implied by SASL and TLS options."""
        if self.security_protocol:
            return self.security_protocol.upper()
        tls = bool(self.ca_file or self.cert_file)
        if self.sasl_mechanism:
            return "SASL_SSL" if tls else "SASL_PLAINTEXT"
        return "SSL" if tls else "PLAINTEXT"

    def tls(self) -> bool:
        return self.protocol() in ("SSL", "SASL_SSL")

    def warn_weakened(self) -> None:
        """One warning line per security check the operator turned off."""
        if self.tls() and not self.verify_hostname:
            log.warning(
                "Kafka TLS: broker host names are not verified (--kafka-no-verify-hostname)"
            )
        if self.protocol() == "SASL_PLAINTEXT":
            log.warning(
                "Kafka SASL credentials are sent without TLS (--allow-plaintext-credentials)"
            )


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
    #: Check that a node's certificate names the address connected to.
    verify_hostname: bool = True
    #: Accept a user name and password without TLS (readable on the network).
    allow_plaintext_credentials: bool = False

    def __post_init__(self) -> None:
        if self.username and not self.tls() and not self.allow_plaintext_credentials:
            raise _plaintext_refused("a Cassandra user", "give --cassandra-ca-file")

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> CassandraConnection:
        """Build from the click keyword arguments of the CASSANDRA settings; log at
        start-up what weakens the connection's security."""
        conn = cls(
            contact_points=opts["contact_points"],
            keyspace=opts["keyspace"],
            username=opts.get("cassandra_username"),
            password=read_secret(CASSANDRA_PASSWORD, opts.get("cassandra_password_file")),
            ca_file=opts.get("cassandra_ca_file"),
            cert_file=opts.get("cassandra_cert_file"),
            key_file=opts.get("cassandra_key_file"),
            verify_hostname=not opts.get("cassandra_no_verify_hostname"),
            allow_plaintext_credentials=bool(opts.get("allow_plaintext_credentials")),
        )
        conn.warn_weakened()
        return conn

    def tls(self) -> bool:
        """Client TLS is on when a CA or a client certificate is given."""
        return bool(self.ca_file or self.cert_file)

    def warn_weakened(self) -> None:
        """One warning line per security check the operator turned off."""
        if self.tls() and not self.verify_hostname:
            log.warning(
                "Cassandra TLS: node host names are not verified (--cassandra-no-verify-hostname)"
            )
        if self.username and not self.tls():
            log.warning(
                "Cassandra credentials are sent without TLS (--allow-plaintext-credentials)"
            )
