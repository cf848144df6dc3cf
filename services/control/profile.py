"""Where a pair of local servers lives: ports, folders, heaps, all overridable by environment.

A test can start a second, separate pair by pointing LOGPIPE_SERVICES_DIR at a temporary
folder and choosing other ports; the jars in the cache are shared by every pair.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SERVICES_DIR = Path(__file__).resolve().parent.parent
CONF_DIR = SERVICES_DIR / "conf"


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _path_env(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).resolve() if value else default


@dataclass(frozen=True)
class Profile:
    """One pair of servers: a Kafka node and a Cassandra node, and where their files go."""

    secure: bool
    run_dir: Path
    cache_dir: Path
    kafka_port: int
    kafka_controller_port: int
    cassandra_port: int
    cassandra_storage_port: int
    cassandra_ssl_storage_port: int
    kafka_heap: str
    cassandra_heap: str
    timeout: float
    java: str

    @property
    def kafka_dir(self) -> Path:
        return self.run_dir / "kafka"

    @property
    def cassandra_dir(self) -> Path:
        return self.run_dir / "cassandra"

    @property
    def tls_dir(self) -> Path:
        return self.run_dir / "tls"

    def lib(self, server: str) -> Path:
        return self.cache_dir / server / "lib"


def _java() -> str:
    explicit = os.environ.get("LOGPIPE_JAVA", "").strip()
    if explicit:
        return explicit
    home = os.environ.get("JAVA_HOME", "").strip()
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java") or "java"


def load(secure: bool = False) -> Profile:
    """Read the profile from the environment.

    The secure profile (SASL/SCRAM over TLS for Kafka, password authentication and client
    TLS for Cassandra) has its own defaults for ports and folder, so it runs beside the
    plain pair; the LOGPIPE_SECURE_* variables move it.
    """
    if secure:
        run_dir = _path_env("LOGPIPE_SECURE_SERVICES_DIR", SERVICES_DIR / ".run" / "secure")
        kafka_port = _int_env("LOGPIPE_SECURE_KAFKA_PORT", 9192)
        controller_port = _int_env("LOGPIPE_SECURE_KAFKA_CONTROLLER_PORT", 9193)
        cassandra_port = _int_env("LOGPIPE_SECURE_CASSANDRA_PORT", 9142)
        storage_port = _int_env("LOGPIPE_SECURE_CASSANDRA_STORAGE_PORT", 7100)
    else:
        run_dir = _path_env("LOGPIPE_SERVICES_DIR", SERVICES_DIR / ".run")
        kafka_port = _int_env("LOGPIPE_KAFKA_PORT", 9092)
        controller_port = _int_env("LOGPIPE_KAFKA_CONTROLLER_PORT", 9093)
        cassandra_port = _int_env("LOGPIPE_CASSANDRA_PORT", 9042)
        storage_port = _int_env("LOGPIPE_CASSANDRA_STORAGE_PORT", 7000)
    ssl_storage_var = (
        "LOGPIPE_SECURE_CASSANDRA_SSL_STORAGE_PORT"
        if secure
        else "LOGPIPE_CASSANDRA_SSL_STORAGE_PORT"
    )
    return Profile(
        secure=secure,
        run_dir=run_dir,
        cache_dir=_path_env("LOGPIPE_SERVICES_CACHE", SERVICES_DIR / ".cache"),
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        cassandra_port=cassandra_port,
        cassandra_storage_port=storage_port,
        cassandra_ssl_storage_port=_int_env(ssl_storage_var, storage_port + 1),
        kafka_heap=os.environ.get("LOGPIPE_KAFKA_HEAP", "512m"),
        cassandra_heap=os.environ.get("LOGPIPE_CASSANDRA_HEAP", "1G"),
        timeout=float(os.environ.get("LOGPIPE_SERVICES_TIMEOUT", "180")),
        java=_java(),
    )
