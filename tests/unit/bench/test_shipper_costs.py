"""What the shipper benchmarks compare with, and how they report what a host pays per line.

Fluent Bit is found through ``LOGPIPE_BENCH_FLUENT_BIT`` (its parsers file beside the
sources it was built from) or reported unavailable with the reason; the steady writer
holds its rate; the report sets the figures against the cost goals.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_shippers
import bench_steady
import report

APACHE2 = "[PARSER]\n    Name   apache2\n    Format regex\n    Regex  ^(?<host>[^ ]*) .*$\n"


def fake_build(tmp_path: Path, parsers: str = APACHE2) -> Path:
    """A build directory as cmake leaves it: bin/fluent-bit, CMakeCache.txt naming the
    sources, whose conf/parsers.conf holds the parsers."""
    source = tmp_path / "fluent-bit-src"
    (source / "conf").mkdir(parents=True)
    (source / "conf" / "parsers.conf").write_text(parsers)
    build = tmp_path / "build"
    (build / "bin").mkdir(parents=True)
    (build / "CMakeCache.txt").write_text(f"CMAKE_HOME_DIRECTORY:INTERNAL={source}\n")
    binary = build / "bin" / "fluent-bit"
    binary.write_text("#!/bin/sh\necho 'Fluent Bit v5.1.1'\necho 'Git commit: '\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_without_a_binary_fluent_bit_is_unavailable_and_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(bench_shippers.FLUENT_BIT_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    why = bench_shippers.fluent_bit()
    assert isinstance(why, str) and bench_shippers.FLUENT_BIT_ENV in why


def test_a_named_path_that_is_not_a_binary_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(bench_shippers.FLUENT_BIT_ENV, str(tmp_path / "nothing"))
    why = bench_shippers.fluent_bit()
    assert isinstance(why, str) and "no such executable" in why


def test_the_parsers_file_is_found_beside_the_sources_the_binary_was_built_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    binary = fake_build(tmp_path)
    monkeypatch.setenv(bench_shippers.FLUENT_BIT_ENV, str(binary))
    monkeypatch.delenv(bench_shippers.FLUENT_BIT_PARSERS_ENV, raising=False)
    found = bench_shippers.fluent_bit()
    assert found == bench_shippers.FluentBit(
        binary, tmp_path / "fluent-bit-src" / "conf" / "parsers.conf", "5.1.1"
    )


def test_a_parsers_file_without_the_apache2_parser_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    binary = fake_build(tmp_path)
    other = tmp_path / "parsers.conf"
    other.write_text("[PARSER]\n    Name   json\n    Format json\n")
    monkeypatch.setenv(bench_shippers.FLUENT_BIT_ENV, str(binary))
    monkeypatch.setenv(bench_shippers.FLUENT_BIT_PARSERS_ENV, str(other))
    why = bench_shippers.fluent_bit()
    assert isinstance(why, str) and "no parser named apache2" in why


def test_the_steady_writer_holds_its_rate_one_line_at_a_time(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    wrote = bench_steady.write_steadily(log, rate=1000, seconds=1.0)
    lines = log.read_bytes().splitlines()
    assert len(lines) == wrote["written"] >= 900
    assert wrote["achieved_rate"] == pytest.approx(1000, rel=0.1)
    assert wrote["late_p50_ms"] < 20


def results(confluent_cpu: float, steady_pct: float, rss: float) -> dict:
    tail = bench_shippers.TAIL["confluent"]
    fluent = bench_shippers.FLUENT_BIT[True]
    return {
        "components": {
            "ship": {
                "contenders": {
                    tail: {"rate": 100_000, "cpu_s_per_100k": confluent_cpu},
                    fluent: {"rate": 95_000, "cpu_s_per_100k": 0.8},
                }
            }
        },
        "steady": {
            "rate": 2000,
            "contenders": {tail: {"cpu_pct": steady_pct, "rss_peak_mb": rss}},
        },
    }


def test_the_cost_goals_are_met_at_their_bounds_and_not_above() -> None:
    met = [line for line in report.goals(results(0.8, 2.0, 40.0)) if "tail (confluent)" in line]
    assert len(met) == 4 and all(line.endswith("| yes |") for line in met)
    above = [line for line in report.goals(results(0.81, 2.1, 41.0)) if "tail (confluent)" in line]
    assert [line.endswith("| yes |") for line in above] == [True, False, False, False]


def test_an_unavailable_peer_is_a_row_that_says_why() -> None:
    steady = {"contenders": {"Fluent Bit": {"unavailable": "set LOGPIPE_BENCH_FLUENT_BIT"}}}
    assert "| Fluent Bit | unavailable: set LOGPIPE_BENCH_FLUENT_BIT |" in bench_steady.table(
        steady
    )


def test_the_floor_of_each_client_is_reported_beside_the_goals() -> None:
    alone = bench_shippers.ALONE
    measured = {
        "components": {"ship": {"contenders": {alone["confluent"]: {"cpu_s_per_100k": 0.27}}}},
        "steady": {
            "rate": 2000,
            "contenders": {alone["kafka-python"]: {"cpu_pct": 4.8, "rss_peak_mb": 36.4}},
        },
    }
    (line,) = [x for x in report.floors(measured) if "kafka-python" in x]
    assert "confluent: 0.27 CPU s per 100k lines in the burst" in line
    assert "kafka-python: 4.80% of one core and 36.4 MB peak RSS at the steady rate" in line
    assert report.floors({}) == []
