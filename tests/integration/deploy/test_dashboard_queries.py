"""The Grafana dashboard and the alert rules against a real Prometheus (Debian's) that
scraped both daemons while they carried real access-log lines: every panel query returns
data, the rules load, and no alert fires on a healthy pipeline."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from logpipe_testkit.ports import free_ports
from logpipe_testkit.prometheus import prometheus
from tests.support.forwarder import Daemon, make_topic, tail_args
from tests.support.k2c import keyspace, poller_args, poller_process, wait_until
from tests.support.paths import DATA, ROOT

pytestmark = pytest.mark.integration

DASHBOARD = ROOT / "deploy" / "grafana" / "logpipe-dashboard.json"
LINES = 300


def test_every_panel_query_returns_data(
    tmp_path: Path, kafka_bootstrap: str, cassandra_contact_points: str, unique_name
) -> None:
    topic, ks, group = unique_name("dash"), unique_name("ks"), unique_name("g")
    make_topic(kafka_bootstrap, topic)
    log = tmp_path / "access.log"
    corpus = (DATA / "access-combined-real.log").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(corpus[:LINES]))
    shipper_port, poller_port = free_ports(2)
    queries = {
        panel["title"]: target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    }
    with keyspace(cassandra_contact_points, ks):
        shipper = Daemon(
            tail_args(
                topic, kafka_bootstrap, tmp_path / "state", log,
                from_beginning="", metrics_port=str(shipper_port),
            ),
            tmp_path / "logs2kafka.log",
        ).start()  # fmt: skip
        poller = poller_process(
            kafka_bootstrap, cassandra_contact_points, *poller_args(topic, ks, group),
            "--metrics-port", str(poller_port), log_path=tmp_path / "poller.log",
        )  # fmt: skip
        try:
            targets = {"logs2kafka": [shipper_port], "kafka2cassandra": [poller_port]}
            with prometheus(tmp_path / "prometheus", targets) as server:

                def scraped() -> bool:
                    up = server.query("up == 1")
                    rows = server.query("kafka2cassandra_rows_written_total")
                    return len(up) == 2 and bool(rows) and float(rows[0]["value"][1]) >= LINES

                assert wait_until(scraped, 60), (tmp_path / "poller.log").read_text()
                time.sleep(3)  # a few more scrapes: rates need two samples in their window
                empty = {title: expr for title, expr in queries.items() if not server.query(expr)}
                assert empty == {}
                # the shipper's positions moved: its checkpoint writes are counted
                assert server.query("logs2kafka_checkpoint_writes_total > 0")
                assert server.query("logs2kafka_files_followed == 1")
                groups = {group["name"] for group in server.api("rules")["groups"]}
                assert groups == {"logpipe-recording", "logpipe-alerts"}
                assert server.firing() == []
        finally:
            poller.terminate()
            poller.wait(30)
            assert shipper.stop() == 0
