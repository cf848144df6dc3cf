"""Client configuration from a ``KafkaConnection``, shared by every client.

Where Kafka is and how to authenticate, in kafka-python's and in librdkafka's names;
``redact`` makes either safe to log; ``kafka_python_client`` builds any kafka-python
client (producer, consumer, admin) on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.client_logs import quiet_client_logs
from logpipe.kafka.errors import KafkaUnavailable

_SECRET_KEYS = frozenset({"sasl_plain_password", "sasl.password", "ssl_password"})
_HIDDEN = "***"


def build_client_config(conn: KafkaConnection) -> dict[str, Any]:
    """kafka-python keyword arguments for where Kafka is and how to authenticate.

    Shared by KafkaProducer, KafkaConsumer and KafkaAdminClient. TLS is on when a CA
    or client certificate is given (or the protocol says SSL), with the broker's host
    name checked unless ``conn.verify_hostname`` is off; SASL when a mechanism is given
    (``KafkaConnection`` refuses it without TLS unless plaintext credentials are allowed).
    The result holds the password: log it only through ``redact``.
    """
    protocol = conn.protocol()
    config: dict[str, Any] = {
        "bootstrap_servers": _split_servers(conn.bootstrap_servers),
        "security_protocol": protocol,
    }
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        if not conn.sasl_mechanism:
            raise ValueError(f"security protocol {protocol} needs a SASL mechanism")
        if not conn.sasl_username or conn.sasl_password is None:
            raise ValueError(f"SASL {conn.sasl_mechanism} needs a user name and a password")
        config["sasl_mechanism"] = conn.sasl_mechanism.upper()
        config["sasl_plain_username"] = conn.sasl_username
        config["sasl_plain_password"] = conn.sasl_password
    if protocol in ("SSL", "SASL_SSL"):
        # The broker's certificate must name the host connected to, unless the operator
        # turned that off (KafkaConnection.from_options warns about it at every start).
        config["ssl_check_hostname"] = conn.verify_hostname
        if conn.ca_file:
            config["ssl_cafile"] = conn.ca_file
        if conn.cert_file:
            config["ssl_certfile"] = conn.cert_file
        if conn.key_file:
            config["ssl_keyfile"] = conn.key_file
    return config


def build_confluent_config(conn: KafkaConnection) -> dict[str, Any]:
    """The same connection in librdkafka's (confluent-kafka's) configuration names."""
    base = build_client_config(conn)
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(base["bootstrap_servers"]),
        "security.protocol": base["security_protocol"].lower(),
    }
    names = {
        "sasl_mechanism": "sasl.mechanism",
        "sasl_plain_username": "sasl.username",
        "sasl_plain_password": "sasl.password",
        "ssl_cafile": "ssl.ca.location",
        "ssl_certfile": "ssl.certificate.location",
        "ssl_keyfile": "ssl.key.location",
    }
    for ours, theirs in names.items():
        if ours in base:
            config[theirs] = base[ours]
    if "ssl_check_hostname" in base:
        verify = base["ssl_check_hostname"]
        config["ssl.endpoint.identification.algorithm"] = "https" if verify else "none"
    return config


def kafka_python_client(factory: Callable[..., Any], conn: KafkaConnection, **options: Any) -> Any:
    """One kafka-python client (producer, consumer or admin) for ``conn``.

    Every client gets the shared security configuration and the log filter that
    notices refusals, and a broker that cannot be reached is KafkaUnavailable.
    """
    from kafka.errors import KafkaError

    quiet_client_logs()
    try:
        return factory(**{**build_client_config(conn), **options})
    except KafkaError as exc:
        raise KafkaUnavailable(
            f"no Kafka broker reachable at {conn.bootstrap_servers}: {exc}"
        ) from exc


def redact(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a client configuration that is safe to log (passwords hidden)."""
    return {k: (_HIDDEN if k in _SECRET_KEYS and v is not None else v) for k, v in config.items()}


def _split_servers(servers: str) -> list[str]:
    found = [s.strip() for s in servers.split(",") if s.strip()]
    if not found:
        raise ValueError("no Kafka bootstrap server given")
    return found
