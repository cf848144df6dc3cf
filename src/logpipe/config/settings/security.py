"""Security settings of both daemons (SASL and TLS for Kafka, authentication and TLS for
Cassandra; passwords from the environment or a file only, never from a flag), and the
option groups COMMON, KAFKA and CASSANDRA that both command lines take."""

from __future__ import annotations

from logpipe.config.registry import define
from logpipe.config.settings.shared import (
    BOOTSTRAP_SERVERS,
    CONTACT_POINTS,
    KEYSPACE,
    LOG_FORMAT,
    LOG_LEVEL,
    METRICS_ADDRESS,
    METRICS_PORT,
    TOPIC,
)

KAFKA_SECURITY_PROTOCOL = define(
    "kafka_security_protocol",
    "--kafka-security-protocol",
    "KAFKA_SECURITY_PROTOCOL",
    None,
    "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (default: derived from the options below; "
    "SASL_PLAINTEXT needs --allow-plaintext-credentials).",
    choices=(
        "PLAINTEXT",
        "SSL",
        "SASL_PLAINTEXT",
        "SASL_SSL",
    ),
    case_sensitive=False,
)
KAFKA_SASL_MECHANISM = define(
    "kafka_sasl_mechanism",
    "--kafka-sasl-mechanism",
    "KAFKA_SASL_MECHANISM",
    None,
    "SASL mechanism (needs TLS: a CA file, or --allow-plaintext-credentials).",
    choices=(
        "PLAIN",
        "SCRAM-SHA-256",
        "SCRAM-SHA-512",
    ),
    case_sensitive=False,
)
KAFKA_SASL_USERNAME = define(
    "kafka_sasl_username", "--kafka-sasl-username", "KAFKA_SASL_USERNAME", None, "SASL user."
)
KAFKA_SASL_PASSWORD_FILE = define(
    "kafka_sasl_password_file",
    "--kafka-sasl-password-file",
    "KAFKA_SASL_PASSWORD_FILE",
    None,
    "File holding the SASL password (e.g. a mounted Secret); or put the password itself in "
    "KAFKA_SASL_PASSWORD (there is no flag: a command line is readable by every user).",
)
KAFKA_SASL_PASSWORD = define(
    "kafka_sasl_password",
    None,
    "KAFKA_SASL_PASSWORD",
    None,
    "SASL password, from the environment only (the password file wins when both are given).",
    secret=True,
    read_with=KAFKA_SASL_PASSWORD_FILE,
)
KAFKA_CA_FILE = define(
    "kafka_ca_file",
    "--kafka-ca-file",
    "KAFKA_CA_FILE",
    None,
    "PEM CA bundle to verify the brokers (turns TLS on).",
)
KAFKA_CERT_FILE = define(
    "kafka_cert_file", "--kafka-cert-file", "KAFKA_CERT_FILE", None, "PEM client certificate."
)
KAFKA_KEY_FILE = define(
    "kafka_key_file", "--kafka-key-file", "KAFKA_KEY_FILE", None, "PEM client private key."
)
KAFKA_NO_VERIFY_HOSTNAME = define(
    "kafka_no_verify_hostname",
    "--kafka-no-verify-hostname",
    "KAFKA_NO_VERIFY_HOSTNAME",
    False,
    "Accept a broker certificate issued for another host name (the CA is still checked); "
    "a warning says so at every start.",
    is_flag=True,
)

# Cassandra security
CASSANDRA_USERNAME = define(
    "cassandra_username",
    "--cassandra-username",
    "CASSANDRA_USERNAME",
    None,
    "Cassandra user (needs TLS: a CA file, or --allow-plaintext-credentials).",
)
CASSANDRA_PASSWORD_FILE = define(
    "cassandra_password_file",
    "--cassandra-password-file",
    "CASSANDRA_PASSWORD_FILE",
    None,
    "File holding the Cassandra password; or put the password itself in CASSANDRA_PASSWORD "
    "(there is no flag: a command line is readable by every user).",
)
CASSANDRA_PASSWORD = define(
    "cassandra_password",
    None,
    "CASSANDRA_PASSWORD",
    None,
    "Cassandra password, from the environment only (the password file wins when both are given).",
    secret=True,
    read_with=CASSANDRA_PASSWORD_FILE,
)
CASSANDRA_CA_FILE = define(
    "cassandra_ca_file",
    "--cassandra-ca-file",
    "CASSANDRA_CA_FILE",
    None,
    "PEM CA bundle to verify Cassandra (turns client TLS on).",
)
CASSANDRA_CERT_FILE = define(
    "cassandra_cert_file",
    "--cassandra-cert-file",
    "CASSANDRA_CERT_FILE",
    None,
    "PEM client certificate for Cassandra.",
)
CASSANDRA_KEY_FILE = define(
    "cassandra_key_file",
    "--cassandra-key-file",
    "CASSANDRA_KEY_FILE",
    None,
    "PEM client private key for Cassandra.",
)
CASSANDRA_NO_VERIFY_HOSTNAME = define(
    "cassandra_no_verify_hostname",
    "--cassandra-no-verify-hostname",
    "CASSANDRA_NO_VERIFY_HOSTNAME",
    False,
    "Accept a node certificate that does not name the node (the CA is still checked); a "
    "warning says so at every start. Without it, each node's certificate must hold the "
    "node's IP address in its subjectAltName: the driver connects to the addresses it "
    "resolves and discovers.",
    is_flag=True,
)

# Both servers
ALLOW_PLAINTEXT_CREDENTIALS = define(
    "allow_plaintext_credentials",
    "--allow-plaintext-credentials",
    "ALLOW_PLAINTEXT_CREDENTIALS",
    False,
    "Allow a SASL mechanism or a Cassandra user without TLS (the credentials cross the "
    "network readable; without this switch that is a start-up error).",
    is_flag=True,
)

COMMON = (LOG_LEVEL, LOG_FORMAT, METRICS_PORT, METRICS_ADDRESS)
KAFKA = (
    BOOTSTRAP_SERVERS,
    TOPIC,
    KAFKA_SECURITY_PROTOCOL,
    KAFKA_SASL_MECHANISM,
    KAFKA_SASL_USERNAME,
    KAFKA_SASL_PASSWORD_FILE,
    KAFKA_CA_FILE,
    KAFKA_CERT_FILE,
    KAFKA_KEY_FILE,
    KAFKA_NO_VERIFY_HOSTNAME,
    ALLOW_PLAINTEXT_CREDENTIALS,
)
CASSANDRA = (
    CONTACT_POINTS,
    KEYSPACE,
    CASSANDRA_USERNAME,
    CASSANDRA_PASSWORD_FILE,
    CASSANDRA_CA_FILE,
    CASSANDRA_CERT_FILE,
    CASSANDRA_KEY_FILE,
    CASSANDRA_NO_VERIFY_HOSTNAME,
    ALLOW_PLAINTEXT_CREDENTIALS,
)
