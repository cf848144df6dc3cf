"""The pipeline of docker/compose.yaml, run without Docker against the local services.

No container engine runs here, so this test takes what the compose file gives each
logpipe service (its command and its environment), points the host names at the local
Kafka and Cassandra and the volumes at temporary folders, and runs the three logpipe
services as processes in compose's order: topics, schema, then kafka2cassandra and
logs2kafka. Lines appended to the access log must arrive as rows, both daemons must
report ready on the port their health checks ask, and each must stop cleanly on SIGTERM
well within the compose stop_grace_period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from logpipe.config import settings
from logpipe.config.connections import KafkaConnection
from logpipe.kafka import create_topic
from logpipe_testkit.ports import free_port
from logpipe_testkit.readiness import wait_ready
from tests.support.paths import ROOT

ROOT = ROOT
COMPOSE = ROOT / "docker" / "compose.yaml"
CORPUS = ROOT / "tests" / "data" / "access-combined-real.log"
BIN = Path(sys.executable).parent
LINES = 300

pytestmark = pytest.mark.integration


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


class ComposeRun:
    """The compose file's logpipe services, translated to local processes."""

    def __init__(self, tmp: Path, kafka: str, cassandra: str, unique: Callable[[str], str]):
        self.compose = yaml.safe_load(COMPOSE.read_text())
        self.topic = unique("deploy")
        self.keyspace = unique("deploy")
        self.logs = tmp / "apache-logs"
        self.state = tmp / "logs2kafka-state"
        self.logs.mkdir()
        self.state.mkdir()
        # What compose's names and volumes stand for on this machine.
        self.replace = {
            "kafka:9092": kafka,
            "cassandra": cassandra,
            "www_logs": self.topic,
            "admintome": self.keyspace,
            "/var/log/apache2": str(self.logs),
            "/var/lib/logs2kafka": str(self.state),
        }
        self.extra = {
            # A group and a dead-letter topic of this test's own (compose uses the defaults).
            "KAFKA2CASSANDRA_GROUP_ID": unique("deploy"),
            "KAFKA2CASSANDRA_DLQ_TOPIC": unique("deploy_dlq"),
        }
        self.ports: dict[str, int] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.outputs: list[Any] = []

    def service(self, name: str) -> dict[str, Any]:
        return self.compose["services"][name]

    def local(self, value: str) -> str:
        for compose_value, local_value in self.replace.items():
            if value == compose_value:
                return local_value
            if value.startswith(compose_value + "/"):
                return local_value + value[len(compose_value) :]
        return value

    def environment(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SETTING_VARIABLES}
        for variable, value in self.service(name).get("environment", {}).items():
            env[variable] = self.local(str(value))
        if "METRICS_PORT" in env:
            self.ports[name] = free_port()
            env["METRICS_PORT"] = str(self.ports[name])
        env.update(self.extra)
        return env

    def argv(self, name: str) -> list[str]:
        program, *args = self.service(name)["command"]
        return [str(BIN / program), *(self.local(a) for a in args)]

    def run_once(self, name: str) -> None:
        done = subprocess.run(
            self.argv(name), env=self.environment(name), capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]

    def start(self, name: str) -> None:
        output = (self.logs.parent / f"{name}.log").open("wb")
        self.outputs.append(output)
        self.processes[name] = subprocess.Popen(
            self.argv(name), env=self.environment(name), stdout=subprocess.DEVNULL, stderr=output
        )

    def wait_ready(self, name: str) -> None:
        process = self.processes[name]
        wait_ready(self.ports[name], 60, name=name, alive=lambda: process.poll() is None)

    def rows(self) -> int:
        done = subprocess.run(
            [str(BIN / "kafka2cassandra"), "query", "--source", "www1", "--count"],
            env=self.environment("schema"),
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        return int(done.stdout.split()[-1])

    def stop(self, name: str) -> tuple[int, float]:
        process = self.processes[name]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        return code, time.monotonic() - started

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for output in self.outputs:
            output.close()


_SETTING_VARIABLES = {s.env for s in settings.all_settings()}


@pytest.fixture
def compose_run(
    tmp_path: Path,
    kafka_bootstrap: str,
    cassandra_contact_points: str,
    unique_name: Callable[[str], str],
) -> Iterator[ComposeRun]:
    run = ComposeRun(tmp_path, kafka_bootstrap, cassandra_contact_points, unique_name)
    try:
        yield run
    finally:
        run.close()
        _drop(run, kafka_bootstrap, cassandra_contact_points)


def _drop(run: ComposeRun, kafka: str, cassandra: str) -> None:
    from kafka.admin import KafkaAdminClient

    from logpipe.cassandra import Store
    from logpipe.config.connections import CassandraConnection

    with Store(CassandraConnection(contact_points=cassandra)) as store:
        store.drop_keyspace(run.keyspace)
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        existing = set(admin.list_topics())
        doomed = [t for t in (run.topic, run.extra["KAFKA2CASSANDRA_DLQ_TOPIC"]) if t in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


def test_the_compose_pipeline_carries_access_log_lines_into_rows(
    compose_run: ComposeRun, kafka_bootstrap: str
) -> None:
    run = compose_run
    services = run.compose["services"]
    assert services["kafka2cassandra"]["depends_on"]["schema"]["condition"] == (
        "service_completed_successfully"
    )
    # The topics job: the log topic with the partitions compose gives it.
    topics_command = " ".join(services["topics"]["command"])
    partitions = int(topics_command.split("--partitions")[1].split()[0])
    create_topic(KafkaConnection(kafka_bootstrap), run.topic, partitions=partitions)
    # The schema job, then the two daemons, in compose's order.
    run.run_once("schema")
    # httpd opens its log when it starts: logs2kafka is ready once it follows a file.
    (run.logs / "access.log").touch()
    run.start("kafka2cassandra")
    run.start("logs2kafka")
    run.wait_ready("kafka2cassandra")
    run.wait_ready("logs2kafka")

    # What httpd would write: real lines, appended to the file compose's logs2kafka tails.
    tailed = Path(run.local(services["logs2kafka"]["command"][-1]))
    lines = CORPUS.read_bytes().splitlines(keepends=True)[:LINES]
    with tailed.open("ab") as log:
        for i in range(0, LINES, 50):
            log.writelines(lines[i : i + 50])
            log.flush()
            time.sleep(0.1)

    wait_for(lambda: run.rows() >= LINES, 90, f"{LINES} rows")
    assert run.rows() == LINES

    grace = float(services["logs2kafka"]["stop_grace_period"].rstrip("s"))
    for name in ("logs2kafka", "kafka2cassandra"):
        code, seconds = run.stop(name)
        assert code == 0, f"{name} exited {code}"
        assert seconds < min(grace, settings.SHUTDOWN_TIMEOUT.default), f"{name}: {seconds}s"
    assert any(run.state.iterdir()), "logs2kafka left its checkpoint on the state volume"
