"""The two servers: how each one's configuration is written, how it is started, and when it
counts as ready."""

from __future__ import annotations

import base64
import ssl
import string
import subprocess
import time
import uuid
from pathlib import Path

from . import probes, processes, security
from .profile import CONF_DIR, Profile

HOST = "127.0.0.1"


class StartError(Exception):
    """A server did not become ready; the message carries the end of its log."""


def _jvm_options(path: Path) -> list[str]:
    options = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            options.extend(line.split(" ", 1) if line.startswith("--add-") else [line])
    return options


def _render(template: Path, target: Path, values: dict[str, str]) -> None:
    text = string.Template(template.read_text()).substitute(values)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(target)


class Server:
    """One JVM of a profile: its folder, pid file, log, and the readiness check."""

    name = ""
    host = HOST

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.dir = profile.run_dir / self.name
        self.pidfile = self.dir / f"{self.name}.pid"
        self.log = self.dir / f"{self.name}.log"

    @property
    def port(self) -> int:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def pid(self) -> int | None:
        return processes.alive(self.pidfile)

    def check(self) -> str:
        """Return a short description of the ready server; raise probes.ProbeError if not."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Write configuration (and format storage) before a start."""
        raise NotImplementedError

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> int:
        """Start the JVM in the background unless ours already runs; return its pid."""
        pid = self.pid()
        if pid is not None:
            return pid
        if probes.port_open(self.host, self.port):
            raise StartError(
                f"{self.name}: port {self.host}:{self.port} is already taken by a process that "
                f"{self.pidfile} does not record; move ours with the LOGPIPE_*_PORT variables"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with open(self.log, "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} ctl start\n".encode())
        return processes.spawn(self.argv(), self.dir, self.log, self.pidfile)

    def wait_ready(self, deadline: float) -> str:
        pid = self.pid()
        last_error = "not started"
        while True:
            if pid is None or not processes.running(pid):
                raise StartError(
                    f"{self.name} exited before it was ready; last lines of {self.log}:\n"
                    + processes.tail(self.log)
                )
            try:
                return self.check()
            except probes.ProbeError as exc:
                last_error = str(exc)
            if time.monotonic() > deadline:
                raise StartError(
                    f"{self.name} not ready after {self.profile.timeout:.0f} s ({last_error});"
                    f" last lines of {self.log}:\n" + processes.tail(self.log)
                )
            time.sleep(0.5)

    def after_ready(self) -> None:
        """One-time work once the server answers (nothing by default)."""

    def stop(self) -> int | None:
        return processes.stop(self.pidfile)


class Kafka(Server):
    """A single KRaft node, broker and controller in one JVM."""

    name = "kafka"

    @property
    def port(self) -> int:
        return self.profile.kafka_port

    def describe(self) -> str:
        return f"{HOST}:{self.port} (controller {self.profile.kafka_controller_port})"

    def check(self) -> str:
        if self.profile.secure:
            probes.kafka_api_versions(HOST, self.port, tls=security.client_context(self.profile))
            return "SASL_SSL"
        info = probes.kafka_ready(HOST, self.port)
        return f"cluster {info.cluster_id}"

    def _listeners(self) -> dict[str, str]:
        p = self.profile
        protocol = "SASL_SSL" if p.secure else "PLAINTEXT"
        return {
            "node_id": "1",
            "voters": f"1@{HOST}:{p.kafka_controller_port}",
            "replication": "1",
            "min_isr": "1",
            "listeners": f"{protocol}://{HOST}:{p.kafka_port},CONTROLLER://{HOST}:{p.kafka_controller_port}",
            "advertised_listeners": f"{protocol}://{HOST}:{p.kafka_port}",
            "protocol_map": f"CONTROLLER:PLAINTEXT,{protocol}:{protocol}",
            "inter_broker_listener": protocol,
            "extra": security.kafka_properties(p) if p.secure else "",
            "data_dir": str(self.dir / "data"),
        }

    def _cluster_id_file(self) -> Path:
        return self.dir / "cluster.id"

    def _cluster_id(self) -> str:
        path = self._cluster_id_file()
        if path.exists():
            return path.read_text().strip()
        while True:
            value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            if not value.startswith("-"):
                break
        path.write_text(value + "\n")
        return value

    def prepare(self) -> None:
        if self.profile.secure:
            security.ensure_certificates(self.profile)
        config = self.dir / "server.properties"
        _render(CONF_DIR / "kafka" / "server.properties", config, self._listeners())
        if (self.dir / "data" / "meta.properties").exists():
            return
        argv = [
            self.profile.java,
            "-Xmx256m",
            f"-Dlog4j2.configurationFile=file:{CONF_DIR / 'kafka' / 'log4j2.properties'}",
            "-cp",
            f"{self.profile.lib('kafka')}/*",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self._cluster_id(),
            "-c",
            str(config),
            "-g",
        ]
        if self.profile.secure:
            argv += security.kafka_format_arguments(self.profile)
        result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise StartError(f"kafka storage format failed:\n{result.stdout}\n{result.stderr}")

    def argv(self) -> list[str]:
        p = self.profile
        return [
            p.java,
            f"-Xms{p.kafka_heap}",
            f"-Xmx{p.kafka_heap}",
            *_jvm_options(CONF_DIR / "kafka" / "jvm.options"),
            f"-XX:HeapDumpPath={self.dir}",
            f"-Dlog4j2.configurationFile=file:{CONF_DIR / 'kafka' / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.dir / 'logs'}",
            "-cp",
            f"{p.lib('kafka')}/*",
            "kafka.Kafka",
            str(self.dir / "server.properties"),
        ]


class Cassandra(Server):
    """A single Cassandra node, its own seed."""

    name = "cassandra"

    @property
    def port(self) -> int:
        return self.profile.cassandra_port

    def describe(self) -> str:
        return f"{self.host}:{self.port} (storage {self.profile.cassandra_storage_port})"

    def _client(self) -> tuple[tuple[str, str] | None, ssl.SSLContext | None]:
        if not self.profile.secure:
            return None, None
        p = self.profile
        return security.cassandra_credentials(p), security.client_context(p)

    def after_ready(self) -> None:
        """Secure profile, first start: make our superuser, lock the default one."""
        p = self.profile
        if not p.secure or security.cassandra_roles_ready(p):
            return
        as_default, as_ours = security.cassandra_setup_statements(p)
        tls = security.client_context(p)
        probes.cql_execute(HOST, self.port, as_default, credentials=self._client()[0], tls=tls)
        ours = (security.CLIENT_USER, security.secret(p, "cassandra-client"))
        deadline = time.monotonic() + 30
        while True:  # the new role may take a moment to be visible to logins
            try:
                probes.cql_execute(HOST, self.port, as_ours, credentials=ours, tls=tls)
                break
            except probes.ProbeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        (self.dir / "roles.done").write_text("ok\n")

    def check(self) -> str:
        credentials, tls = self._client()
        version = probes.cassandra_ready(self.host, self.port, credentials=credentials, tls=tls)
        return f"Cassandra {version}"

    def prepare(self) -> None:
        p = self.profile
        if p.secure:
            security.ensure_certificates(p)
        _render(
            CONF_DIR / "cassandra" / "cassandra.yaml", self.dir / "cassandra.yaml", self._yaml()
        )
        (self.dir / "logs").mkdir(exist_ok=True)

    def _yaml(self) -> dict[str, str]:
        p = self.profile
        return {
            "cluster_name": "logpipe",
            "address": HOST,
            "seeds": f"{HOST}:{p.cassandra_storage_port}",
            "storage_port": str(p.cassandra_storage_port),
            "ssl_storage_port": str(p.cassandra_ssl_storage_port),
            "native_port": str(p.cassandra_port),
            "data_dir": str(self.dir / "data"),
            "memtable_space": "128MiB",
            "hinted_handoff": "false",
            "extra": security.cassandra_yaml(p) if p.secure else "",
        }

    def argv(self) -> list[str]:
        p = self.profile
        argv = [
            p.java,
            f"-Xms{p.cassandra_heap}",
            f"-Xmx{p.cassandra_heap}",
            *_jvm_options(CONF_DIR / "cassandra" / "jvm.options"),
            f"-XX:HeapDumpPath={self.dir}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.config=file://{self.dir / 'cassandra.yaml'}",
            f"-Dcassandra.storagedir={self.dir / 'data'}",
            f"-Dcassandra.logdir={self.dir / 'logs'}",
            f"-Dlogback.configurationFile={CONF_DIR / 'cassandra' / 'logback.xml'}",
            "-Dchronicle.analytics.disable=true",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        ]
        if p.secure:
            argv.append("-Dcassandra.superuser_setup_delay_ms=0")
        return [
            *argv,
            "-cp",
            f"{p.lib('cassandra')}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]


def servers(profile: Profile) -> dict[str, Server]:
    return {"kafka": Kafka(profile), "cassandra": Cassandra(profile)}
