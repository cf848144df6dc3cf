"""Session fixtures shared by every test.

The service fixtures use the local Apache Kafka and Apache Cassandra of services/: the
running pair if there is one, else they start it once (`services/ctl up`) and stop at the
end of the session only what this session started. Unit tests never ask for them, so they
never start a server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from logpipe_testkit.ports import free_ports

ROOT = Path(__file__).resolve().parent.parent
CTL = ROOT / "services" / "ctl"
HOST = "127.0.0.1"


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas with importlib.resources' legacy calls,
    # one DeprecationWarning per schema: noise that says nothing about logpipe.
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    return int(value) if value else default


def run_ctl(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> dict:
    """Run services/ctl with --json and return what it printed; fail the test on error."""
    result = subprocess.run(
        [sys.executable, str(CTL), "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        pytest.fail(
            f"services/ctl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}",
            pytrace=False,
        )
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


@pytest.fixture(scope="session")
def services_ctl() -> Callable[..., dict]:
    """services/ctl as a function: services_ctl("status", env=...) -> its JSON answer."""
    return run_ctl


@contextlib.contextmanager
def services_lock(name: str) -> Iterator[None]:
    """Held while one pytest process checks or starts shared servers: with several
    workers (pytest-xdist), the first starts them and the others wait and reuse them."""
    folder = Path(os.environ.get("LOGPIPE_SERVICES_DIR") or ROOT / "services" / ".run")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Set in each pytest-xdist worker: the session is one of several sharing the servers.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


@pytest.fixture(scope="session")
def local_services() -> Iterator[dict]:
    """The local Kafka + Cassandra pair, ready.

    Stopped at the end only if this session started both and ran alone: if one of them
    was running, the pair is someone else's (restarting the other was a repair, not
    ownership); among several workers, others may still be using it.
    """
    with services_lock("pair"):
        outcome = run_ctl("up")
    yield outcome
    if set(outcome.get("started", [])) == {"kafka", "cassandra"} and not XDIST_WORKER:
        run_ctl("down")


@pytest.fixture(scope="session")
def kafka_bootstrap(local_services: dict) -> str:
    """Bootstrap servers of the local Kafka: "127.0.0.1:9092" unless LOGPIPE_KAFKA_PORT moves it."""
    return f"{HOST}:{_port('LOGPIPE_KAFKA_PORT', 9092)}"


@pytest.fixture(scope="session")
def cassandra_contact_points(local_services: dict) -> str:
    """Contact points of the local Cassandra: "127.0.0.1", or "127.0.0.1:PORT" if moved."""
    port = _port("LOGPIPE_CASSANDRA_PORT", 9042)
    return HOST if port == 9042 else f"{HOST}:{port}"


@pytest.fixture(scope="session")
def cassandra_port(local_services: dict) -> int:
    """Native (CQL) port of the local Cassandra."""
    return _port("LOGPIPE_CASSANDRA_PORT", 9042)


@pytest.fixture(scope="session")
def unique_name() -> Callable[[str], str]:
    """A function making names no other test (or test run) uses.

    The result is lowercase letters, digits and underscores, starts with a letter and has at
    most 48 characters, so it is valid as a Kafka topic, a Cassandra keyspace and a group id.
    """
    run = uuid.uuid4().hex[:6]
    counter = iter(range(1, 10**9))

    def make(prefix: str = "t") -> str:
        clean = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_") or "t"
        if not clean[0].isalpha():
            clean = "t_" + clean
        suffix = f"_{run}_{next(counter)}"
        return clean[: 48 - len(suffix)] + suffix

    make.run = run  # type: ignore[attr-defined]
    return make


_shared_session: list = []  # the shared Cassandra's session, once a test needed one


@pytest.fixture(autouse=True)
def _drop_own_keyspaces(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test on the shared pair, drop the keyspaces it made there.

    Every table costs the shared node heap (its memtables, its SAI indexes) for as long as
    it exists: a whole suite leaves several hundred, and its 1 GiB heap ran out once two
    suites and a benchmark had filled it. A worker runs one test at a time, so the
    keyspaces named with its ``unique_name`` are the finished test's.
    """
    if "local_services" not in request.fixturenames or "unique_name" not in request.fixturenames:
        yield
        return
    run = request.getfixturevalue("unique_name").run
    # Those made before the test (by module fixtures, for several tests) are kept.
    before = _own_keyspaces(run)
    yield
    try:
        for name in _own_keyspaces(run) - before:
            _shared_session[0].execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
    except Exception as exc:  # the node down (a test stopped it): its data goes with it
        print(f"keyspaces of {request.node.nodeid} not dropped: {exc}", file=sys.stderr)


def _own_keyspaces(run: str) -> set[str]:
    """The keyspaces on the shared Cassandra named by this worker's ``unique_name``."""
    try:
        if not _shared_session:
            from cassandra.cluster import Cluster

            port = _port("LOGPIPE_CASSANDRA_PORT", 9042)
            cluster = Cluster([HOST], port=port, connect_timeout=10)
            _shared_session.append(cluster.connect())
        rows = _shared_session[0].execute(
            "SELECT keyspace_name FROM system_schema.keyspaces", timeout=30
        )
    except Exception:  # the node down (a test stopped it): nothing to drop there
        return set()
    return {row.keyspace_name for row in rows if f"_{run}_" in row.keyspace_name}


@dataclass
class ServicePair:
    """A Kafka + Cassandra pair of a test's own: its ports, its folder, its services/ctl."""

    env: dict[str, str]
    kafka_port: int
    cassandra_port: int

    @property
    def kafka_bootstrap(self) -> str:
        return f"{HOST}:{self.kafka_port}"

    @property
    def cassandra_contact_points(self) -> str:
        return f"{HOST}:{self.cassandra_port}"

    def ctl(self, *args: str) -> dict:
        """services/ctl for this pair, e.g. pair.ctl("up"), pair.ctl("stop-kafka")."""
        return run_ctl(*args, env=self.env)

    def pid(self, server: str) -> int:
        """The process id of one running server ("kafka" or "cassandra")."""
        pidfile = Path(self.env["LOGPIPE_SERVICES_DIR"]) / server / f"{server}.pid"
        return int(pidfile.read_text().split()[0])

    def kill9(self, server: str) -> int:
        """kill -9 one server ("kafka" or "cassandra"), as a crash or an OOM kill would;
        returns its pid. ``ctl("start-kafka")`` starts it again."""
        pid = self.pid(server)
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
            time.sleep(0.1)
        return pid


def _state(pid: int) -> str:
    """A process's state letter from /proc (Z: a zombie, dead but not reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def service_pair(folder: Path) -> ServicePair:
    """A pair apart from the shared one, on free ports, its servers' files under ``folder``
    (not started: pair.ctl("up"), about 10 s and 1.5 GiB of memory)."""
    kafka, controller, cql, storage, ssl_storage = free_ports(5)
    env = {
        **os.environ,
        "LOGPIPE_SERVICES_DIR": str(folder / "services"),
        "LOGPIPE_KAFKA_PORT": str(kafka),
        "LOGPIPE_KAFKA_CONTROLLER_PORT": str(controller),
        "LOGPIPE_CASSANDRA_PORT": str(cql),
        "LOGPIPE_CASSANDRA_STORAGE_PORT": str(storage),
        "LOGPIPE_CASSANDRA_SSL_STORAGE_PORT": str(ssl_storage),
    }
    return ServicePair(env=env, kafka_port=kafka, cassandra_port=cql)


@pytest.fixture
def separate_services(tmp_path: Path) -> Iterator[ServicePair]:
    """A pair apart from the shared one, for tests that stop and start servers (faults).

    Not started: the test calls pair.ctl("up") (about 10 s, 1.5 GiB of memory). Whatever
    the test did, everything of this pair is stopped at the end.
    """
    pair = service_pair(tmp_path)
    yield pair
    pair.ctl("down")


@dataclass
class SecureServices:
    """A running secure pair (`services/ctl --secure`) and what a client needs to reach it."""

    env: dict[str, str]
    client: dict

    @property
    def ca_file(self) -> str:
        return self.client["ca_file"]

    @property
    def kafka(self) -> dict:
        """bootstrap_servers, security_protocol, sasl_mechanism, username, password_file."""
        return self.client["kafka"]

    @property
    def cassandra(self) -> dict:
        """contact_points ("127.0.0.1:PORT"), username, password_file."""
        return self.client["cassandra"]

    def password(self, server: str) -> str:
        return Path(self.client[server]["password_file"]).read_text().strip()

    def ctl(self, *args: str) -> dict:
        return run_ctl("--secure", *args, env=self.env)

    def server_log(self, server: str) -> str:
        """The text of a server's own log ("kafka" or "cassandra")."""
        folder = Path(self.env["LOGPIPE_SECURE_SERVICES_DIR"]) / server
        return (folder / f"{server}.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def secure_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServices]:
    """Kafka with SASL/SCRAM over TLS and Cassandra with passwords over TLS, of this session.

    Started on free ports in a temporary folder (about 20 s), with its own CA and random
    passwords; stopped at the end of the session.
    """
    kafka, controller, cql, storage, ssl_storage = free_ports(5)
    env = {
        **os.environ,
        "LOGPIPE_SECURE_SERVICES_DIR": str(tmp_path_factory.mktemp("secure") / "services"),
        "LOGPIPE_SECURE_KAFKA_PORT": str(kafka),
        "LOGPIPE_SECURE_KAFKA_CONTROLLER_PORT": str(controller),
        "LOGPIPE_SECURE_CASSANDRA_PORT": str(cql),
        "LOGPIPE_SECURE_CASSANDRA_STORAGE_PORT": str(storage),
        "LOGPIPE_SECURE_CASSANDRA_SSL_STORAGE_PORT": str(ssl_storage),
    }
    try:
        outcome = run_ctl("--secure", "up", env=env)
        yield SecureServices(env=env, client=outcome["client"])
    finally:
        run_ctl("--secure", "down", env=env)


@dataclass
class LocalCluster:
    """The three-node cluster of `services/ctl --cluster`: three Kafka brokers (a KRaft
    quorum of three, topics RF 3 with min.insync.replicas=2) and a three-node Cassandra ring
    on 127.0.0.1-3."""

    kafka_bootstrap: str
    cassandra_contact_points: str
    run_dir: Path

    def ctl(self, *args: str, timeout: float = 600) -> dict:
        """services/ctl --cluster, e.g. cluster.ctl("start-kafka", "--node", "2")."""
        return run_ctl("--cluster", *args, timeout=timeout)

    def status(self) -> dict:
        return self.ctl("status")

    def pid(self, node: str) -> int:
        """The pid of one node ("kafka2", "cassandra3")."""
        pid = self.status()["nodes"][node]["pid"]
        assert pid, f"{node} is not running"
        return int(pid)

    def kill9(self, node: str) -> int:
        """kill -9 one node, as a crash or an OOM kill would; returns its pid."""
        pid = self.pid(node)
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
            time.sleep(0.1)
        return pid

    def restore(self) -> dict:
        """Start whatever node is down and wait until the cluster is healthy again (three
        brokers, three UN nodes)."""
        return self.ctl("up")

    def remove(self, topics: list[str], keyspace: str | None = None) -> None:
        """Delete a test's topics (and keyspace) again: every partition on the cluster is
        three replicas that each broker restart recovers and brings back in sync."""
        from cassandra.cluster import Cluster
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap)
        try:
            existing = set(admin.list_topics())
            gone = [topic for topic in topics if topic in existing]
            if gone:
                admin.delete_topics(gone, timeout_ms=30_000)
        finally:
            admin.close()
        if keyspace is not None:
            points = self.cassandra_contact_points.split(",")
            hosts = [point.split(":")[0] for point in points]
            cluster = Cluster(hosts, port=int(points[0].split(":")[1]))
            try:
                cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
            finally:
                cluster.shutdown()


@pytest.fixture(scope="session")
def running_cluster() -> LocalCluster:
    """The local cluster, ready: the running one (`make cluster-up` starts it), else started
    here once. services/ctl holds a file lock on the cluster's folder while it starts it, so
    two pytest workers asking at once start it once; it is left running for the next run
    (`services/ctl down --cluster` stops it)."""
    outcome = run_ctl("--cluster", "up", timeout=900)
    return LocalCluster(
        kafka_bootstrap=outcome["kafka_bootstrap"],
        cassandra_contact_points=outcome["cassandra_contact_points"],
        run_dir=Path(outcome["run_dir"]),
    )


@pytest.fixture
def local_cluster(running_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The local cluster, for one test at a time: cluster tests stop and start nodes, so
    each holds a file lock in the cluster's folder while it runs (pytest workers wait for
    each other's cluster tests, whatever worker each landed on), and finds the cluster
    healthy when it starts."""
    with open(running_cluster.run_dir / "tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running_cluster.restore()
        yield running_cluster
