"""The DataStax connector as make bench's peer: it writes the envelope's fields into the
table kafka2cassandra writes, it is reported as unavailable (never a failed bench) when
it is not built, a run that left rows out gets no rate, and every writer is set against
the Java loader and the connector."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from logpipe.cassandra import Replication
from logpipe.cassandra.schema import schema_statements
from logpipe.envelope import LogEntry, encode
from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_ceiling
import bench_connector
import report
import run

#: The mapping as (column, what it takes), e.g. ("log_source", "value.source").
MAPPING = [tuple(part.strip().split("=")) for part in bench_connector.MAPPING.split(",")]


def test_the_mapping_takes_the_envelopes_fields_into_the_tables_columns() -> None:
    import orjson

    entry = LogEntry("www1", "www_access", "2015-05-17T10:05:03+00:00", "GET / ...", {})
    # The ExtractField$Value transform on "log": the connector sees the inner object.
    value = orjson.loads(encode(entry))["log"]
    table = next(s for s in schema_statements("ks", Replication.parse(1)) if "TABLE" in s)
    taken = {column: source for column, source in MAPPING}
    assert taken == {
        "log_source": "value.source",
        "log_type": "value.type",
        "log_datetime": "value.datetime",
        "log_id": "now()",
        "log": "value.log",
    }
    for column, source in taken.items():
        assert f" {column} " in table
        if source.startswith("value."):
            assert source.removeprefix("value.") in value
    got = {c: value[s.removeprefix("value.")] for c, s in taken.items() if s != "now()"}
    assert got == {"log_source": "www1", "log_type": "www_access", "log": "GET / ...",
                   "log_datetime": "2015-05-17T10:05:03+00:00"}  # fmt: skip


def test_the_sink_reads_json_without_schemas_one_task_with_the_transform(
    tmp_path: Path,
) -> None:
    jar = tmp_path / "sink.jar"
    jar.write_bytes(b"")
    worker, sink, _log4j, port = bench_connector.write_config(
        tmp_path, jar, "n", "t", "ks", "127.0.0.1:9092", "127.0.0.1", "dc1"
    )
    w = dict(line.split("=", 1) for line in worker.read_text().splitlines())
    s = dict(line.split("=", 1) for line in sink.read_text().splitlines())
    assert w["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert w["value.converter.schemas.enable"] == "false"
    assert w["listeners"] == f"http://127.0.0.1:{port}"
    assert (Path(w["plugin.path"]) / "sink.jar").resolve() == jar.resolve()
    assert s["tasks.max"] == "1" and s["topics"] == "t"
    assert s["transforms.envelope.type"].endswith("ExtractField$Value")
    assert s["transforms.envelope.field"] == "log"
    assert s["topic.t.ks.logs.mapping"] == bench_connector.MAPPING
    assert s["loadBalancing.localDc"] == "dc1"


@pytest.mark.parametrize(
    ("jar", "lib", "reason"),
    [
        (None, None, "LOGPIPE_BENCH_CONNECTOR_JAR and LOGPIPE_BENCH_CONNECT_LIB not set"),
        ("missing.jar", "lib", "is not a file"),
        ("sink.jar", "empty", "holds no connect-runtime-*.jar"),
    ],
)
def test_without_a_built_connector_it_is_unavailable_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jar: str | None, lib: str | None,
    reason: str,
) -> None:  # fmt: skip
    (tmp_path / "sink.jar").write_bytes(b"")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "connect-runtime-4.3.1.jar").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    for name, value in ((bench_connector.JAR_VARIABLE, jar), (bench_connector.LIB_VARIABLE, lib)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(tmp_path / value))
    with pytest.raises(bench_connector.Unavailable, match=reason.replace("*", r"\*")):
        bench_connector.locate()


def test_a_run_that_left_rows_out_gets_no_rate_but_keeps_its_numbers() -> None:
    short = {"rate": 9000.0, "rows": 99_000, "sent": 100_000, "shortfall": 1_000}
    row = run.complete(short)
    assert "rate" not in row
    assert row["failed"] == "wrote 99,000 of 100,000 rows (short by 1,000)"
    assert row["measured"] == short
    whole = {"rate": 9000.0, "rows": 100_000, "sent": 100_000}
    assert run.complete(dict(whole)) == whole
    summary = run.summarize([{run.CONNECTOR: row}])[run.CONNECTOR]
    assert "rate" not in summary and "short by 1,000" in summary["unavailable"]


def test_every_writer_is_a_fraction_of_the_loader_and_a_multiple_of_the_connector() -> None:
    contenders = {
        report.LOADER: {"rate": 100_000.0, "cpu_s_per_10k": 0.07, "peak_rss_mb": 900.0},
        report.CONNECTOR: {
            "rate": 16_000.0, "cold_rows_per_s": 12_000.0, "cpu_s_per_10k": 1.5,
            "cpu_s_per_10k_writing": 0.8, "peak_rss_mb": 700.0,
        },
        "kafka2cassandra poll": {"rate": 32_000.0, "cpu_s_per_10k": 0.28, "peak_rss_mb": 150.0},
    }  # fmt: skip
    results = {"components": {"ceiling": {"contenders": contenders}}}
    lines = report.ceiling_table(results)
    ours = next(line for line in lines if "**kafka2cassandra poll**" in line)
    assert ours.endswith("| 0.32 | 2.00 |")
    assert "| 0.28 |" in ours and "| 150 |" in ours
    peer = next(line for line in lines if report.CONNECTOR in line)
    assert "16,000 (12,000 from its first row)" in peer and "1.50 (0.80 while writing)" in peer
    goal = next(line for line in report.goals(results) if "DataStax" in line)
    assert goal == "| poll, x DataStax Kafka connector (1 task) | 2.0 | >= 3 | no |"

    contenders[report.CONNECTOR] = {"unavailable": "LOGPIPE_BENCH_CONNECTOR_JAR not set"}
    lines = report.ceiling_table(results)
    assert any("unavailable: LOGPIPE_BENCH_CONNECTOR_JAR not set" in line for line in lines)
    ours = next(line for line in lines if "**kafka2cassandra poll**" in line)
    assert ours.endswith("| 0.32 | n/a |")


def test_a_client_alone_is_shown_without_a_ratio_to_whole_writers() -> None:
    contenders = {
        report.LOADER: {"rate": 100_000.0, "cpu_s_per_10k": 0.07, "peak_rss_mb": 900.0},
        report.CONNECTOR: {"rate": 16_000.0, "cpu_s_per_10k": 1.5, "peak_rss_mb": 700.0},
        bench_ceiling.CONSUMER_ALONE: {
            "rate": 400_000.0, "cpu_s_per_10k": 0.1, "cpu_s_per_10k_writing": 0.025,
            "peak_rss_mb": 60.0,
        },
    }  # fmt: skip
    lines = report.ceiling_table({"components": {"ceiling": {"contenders": contenders}}})
    alone = next(line for line in lines if bench_ceiling.CONSUMER_ALONE in line)
    assert alone.endswith("| - | - |") and "0.10 (0.03 while writing)" in alone


def test_the_poll_floor_adds_both_clients_alone_and_the_pollers_start_up() -> None:
    contenders = {
        report.POLL_CONFLUENT: {"cpu_s_per_10k": 0.28, "cpu_s_per_10k_writing": 0.20},
        bench_ceiling.CONSUMER_ALONE: {"cpu_s_per_10k_writing": 0.025},
        bench_ceiling.DRIVER_ALONE: {"cpu_s_per_10k_writing": 0.055},
    }
    results = {"components": {"ceiling": {"contenders": contenders}}}
    text = " ".join(report.poll_floor(results))
    assert "confluent consumer alone 0.025 while draining" in text
    assert "cassandra-driver alone 0.055" in text
    assert "start-up and shutdown 0.080" in text and "0.160 together" in text
    del contenders[bench_ceiling.DRIVER_ALONE]
    assert report.poll_floor(results) == []
