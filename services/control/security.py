"""The secure profile (`ctl --secure up`): Kafka with SASL/SCRAM over TLS, Cassandra with
password authentication over client TLS, each on its own ports and folder.

Everything secret is made on the first start and kept in the profile's folder (mode 0600):
a private CA and a server certificate for 127.0.0.1 (openssl, keytool), and random
passwords. `client.json` there tells a client what it needs: the CA file, user names and
password files. The Kafka controller listener stays PLAINTEXT on loopback: it serves the
controller quorum only, not clients.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
from pathlib import Path

from .profile import Profile

KAFKA_MECHANISM = "SCRAM-SHA-512"
KAFKA_ADMIN = "admin"  # the broker's own user, for inter-broker traffic
CLIENT_USER = "logpipe"
CASSANDRA_DEFAULT_SUPERUSER = ("cassandra", "cassandra")


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def secret(profile: Profile, name: str) -> str:
    """A password of the profile, made on first use and kept in secrets/<name>."""
    path = profile.run_dir / "secrets" / name
    if not path.exists():
        _private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def secret_file(profile: Profile, name: str) -> Path:
    secret(profile, name)
    return profile.run_dir / "secrets" / name


def _run(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {result.stderr.strip() or result.stdout.strip()}")


def ensure_certificates(profile: Profile) -> None:
    """A CA, a server key + certificate for 127.0.0.1 and localhost, as PEM and PKCS12."""
    tls = profile.tls_dir
    if (tls / "truststore.p12").exists():
        return
    tls.mkdir(parents=True, exist_ok=True)
    os.chmod(tls, 0o700)
    store_password = secret(profile, "tls-store")
    days = "3650"
    _run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
         "-out", "ca.pem", "-days", days, "-subj", "/CN=logpipe local CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        tls,
    )  # fmt: skip
    _run(
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
         "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        tls,
    )  # fmt: skip
    (tls / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "basicConstraints=CA:FALSE\n"
    )
    _run(
        ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", days, "-extfile", "server.ext"],
        tls,
    )  # fmt: skip
    _run(
        ["openssl", "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key",
         "-certfile", "ca.pem", "-name", "server", "-out", "server.p12",
         "-passout", f"pass:{store_password}"],
        tls,
    )  # fmt: skip
    _run(
        ["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem",
         "-keystore", "truststore.tmp.p12", "-storetype", "PKCS12",
         "-storepass", store_password],
        tls,
    )  # fmt: skip
    for name in ("ca.key", "server.key", "server.p12"):
        os.chmod(tls / name, 0o600)
    (tls / "truststore.tmp.p12").replace(tls / "truststore.p12")


def client_context(profile: Profile) -> ssl.SSLContext:
    """A TLS context that trusts the profile's CA and checks the server's name."""
    return ssl.create_default_context(cafile=str(profile.tls_dir / "ca.pem"))


def kafka_properties(profile: Profile) -> str:
    tls = profile.tls_dir
    password = secret(profile, "tls-store")
    admin_password = secret(profile, "kafka-admin")
    listener = f"listener.name.sasl_ssl.{KAFKA_MECHANISM.lower()}"
    return "\n".join(
        [
            f"sasl.enabled.mechanisms={KAFKA_MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={KAFKA_MECHANISM}",
            f"{listener}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule"
            f' required username="{KAFKA_ADMIN}" password="{admin_password}";',
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={tls / 'server.p12'}",
            f"ssl.keystore.password={password}",
            f"ssl.key.password={password}",
            "ssl.truststore.type=PKCS12",
            f"ssl.truststore.location={tls / 'truststore.p12'}",
            f"ssl.truststore.password={password}",
            "ssl.client.auth=none",
            "ssl.endpoint.identification.algorithm=https",
        ]
    )


def kafka_format_arguments(profile: Profile) -> list[str]:
    """SCRAM credentials written into the cluster metadata when the storage is formatted."""
    arguments = []
    for user, name in ((KAFKA_ADMIN, "kafka-admin"), (CLIENT_USER, "kafka-client")):
        password = secret(profile, name)
        arguments += ["--add-scram", f"{KAFKA_MECHANISM}=[name={user},password={password}]"]
    return arguments


def cassandra_yaml(profile: Profile) -> str:
    tls = profile.tls_dir
    password = secret(profile, "tls-store")
    return f"""
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
client_encryption_options:
  enabled: true
  optional: false
  keystore: {tls / "server.p12"}
  keystore_password: "{password}"
  truststore: {tls / "truststore.p12"}
  truststore_password: "{password}"
  store_type: PKCS12
  require_client_auth: false
"""


def cassandra_roles_ready(profile: Profile) -> bool:
    return (profile.cassandra_dir / "roles.done").exists()


def cassandra_credentials(profile: Profile) -> tuple[str, str]:
    """Who the readiness check logs in as: our user once made, the default superuser before."""
    if cassandra_roles_ready(profile):
        return CLIENT_USER, secret(profile, "cassandra-client")
    return CASSANDRA_DEFAULT_SUPERUSER


def cassandra_setup_statements(profile: Profile) -> tuple[list[str], list[str]]:
    """CQL run once after the first start: our superuser in, the default superuser locked."""
    ours = secret(profile, "cassandra-client")
    locked = secret(profile, "cassandra-default-superuser")
    as_default = [
        f"CREATE ROLE IF NOT EXISTS {CLIENT_USER} WITH PASSWORD = '{ours}' "
        "AND LOGIN = true AND SUPERUSER = true"
    ]
    as_ours = [f"ALTER ROLE cassandra WITH PASSWORD = '{locked}' AND LOGIN = false"]
    return as_default, as_ours


def client_info(profile: Profile) -> dict[str, object]:
    """What a client needs to connect: written to client.json and printed by `ctl --json up`."""
    info: dict[str, object] = {
        "ca_file": str(profile.tls_dir / "ca.pem"),
        "kafka": {
            "bootstrap_servers": f"127.0.0.1:{profile.kafka_port}",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": KAFKA_MECHANISM,
            "username": CLIENT_USER,
            "password_file": str(secret_file(profile, "kafka-client")),
        },
        "cassandra": {
            "contact_points": f"127.0.0.1:{profile.cassandra_port}",
            "username": CLIENT_USER,
            "password_file": str(secret_file(profile, "cassandra-client")),
        },
    }
    _private(profile.run_dir / "client.json", json.dumps(info, indent=2) + "\n")
    return info
