"""End to end: delay from append to row, the highest sustained rate, and memory over time.

Both daemons run as processes against the local services, as in production:
``logs2kafka tail`` follows a file that ``LogWriter`` fills with real lines (stamped
with the current time and a sequence number, at a steady rate), and
``kafka2cassandra poll`` writes the rows with ``--log-id now``, so a row's
``toTimestamp(log_id)`` is the time Cassandra wrote it. The delay of a line is that
time minus the moment the writer appended it (same clock, same machine).

* Delay p50 / p99 / max at 1,000 and 5,000 lines/s offered.
* The highest rate sustained without the lag growing: steps of 2k, 4k, 8k, 16k, 24k, 32k lines/s
  (then one step between the last that held and the first that did not), each held
  for ``step_seconds``; the lag is lines appended minus rows the poller reports written
  (its ``kafka2cassandra_rows_written`` metric), sampled every second. A step holds
  when the writer kept its rate and the lag did not trend upward (a least-squares
  slope under 2 % of the rate, or a final lag under one second's worth of lines); a
  step more than ten seconds' worth of lines behind is stopped there, lost.
* The RSS of both daemons, sampled every second through all of it.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchkit as kit
from logpipe.cassandra import Store
from logpipe.config.connections import CassandraConnection
from logpipe_testkit.ports import free_ports
from logpipe_testkit.traffic import LogWriter, load_lines, sequence_of

SOURCE = "bench"
ROWS_WRITTEN = "kafka2cassandra_rows_written_total"


class Pipeline:
    """The two daemons on one topic and keyspace of their own."""

    def __init__(self, work: Path, topic: str, keyspace: str, client: str) -> None:
        self.work, self.topic, self.keyspace = work, topic, keyspace
        self.log = work / "access.log"
        self.log.touch()
        self.poll_port, self.tail_port = free_ports(2)
        self.poller = kit.Daemon(
            [
                kit.BIN / "kafka2cassandra",
                "poll",
                "--topic",
                topic,
                "--dlq-topic",
                f"{topic}_dlq",
                "--keyspace",
                keyspace,
                "--group-id",
                f"{topic}_group",
                "--log-id",
                "now",
                "--bootstrap-servers",
                kit.BOOTSTRAP,
                "--contact-points",
                kit.CONTACT_POINTS,
                "--metrics-port",
                str(self.poll_port),
                "--log-format",
                "json",
                "--kafka-client",
                client,
            ],
            work / "kafka2cassandra.log",
        )
        self.tailer = kit.Daemon(
            [
                kit.BIN / "logs2kafka",
                "tail",
                self.log,
                "--topic",
                topic,
                "--source",
                SOURCE,
                "--state-dir",
                work / "state",
                "--bootstrap-servers",
                kit.BOOTSTRAP,
                "--metrics-port",
                str(self.tail_port),
                "--log-format",
                "json",
                "--kafka-client",
                client,
            ],
            work / "logs2kafka.log",
        )
        kit.wait_ready(self.poll_port, self.poller)
        kit.wait_ready(self.tail_port, self.tailer)

    def rows_written(self) -> float:
        return kit.scrape(self.poll_port, ROWS_WRITTEN)

    def alive(self) -> bool:
        return self.poller.alive() and self.tailer.alive()

    def stop(self) -> dict[str, float]:
        return {
            "logs2kafka": self.tailer.stop().peak_rss_mb,
            "kafka2cassandra": self.poller.stop().peak_rss_mb,
        }


def wait_rows(pipe: Pipeline, target: float, timeout: float) -> float:
    """Wait until the poller wrote ``target`` rows in all; return the count reached."""
    deadline = time.monotonic() + timeout
    rows = pipe.rows_written()
    while rows < target and time.monotonic() < deadline and pipe.alive():
        time.sleep(0.25)
        rows = pipe.rows_written()
    return rows


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def delay_step(
    pipe: Pipeline, corpus: list[bytes], rate: int, seconds: float, conn: CassandraConnection
) -> dict[str, Any]:
    """Offer ``rate`` lines/s for ``seconds``; delays from append to row."""
    run = kit.unique("d")[-6:]
    base = pipe.rows_written()
    since = datetime.now(UTC) - timedelta(seconds=1)
    writer = LogWriter(pipe.log, corpus, run, rate).start()
    time.sleep(seconds)
    written = writer.stop()
    offered = written / seconds
    rows = wait_rows(pipe, base + written, timeout=120)
    delays: list[float] = []
    with Store(conn, consistency="ONE", request_timeout=30.0) as store:
        for row in store.select(pipe.keyspace, SOURCE, "www_access", since=since, page_size=5000):
            seq = sequence_of(row["log"], run)
            if seq is not None and seq in writer.appended:
                delays.append(max(0.0, row["log_time"].timestamp() - writer.appended[seq]) * 1000)
    delays.sort()
    return {
        "offered": rate,
        "achieved_offered": round(offered, 1),
        "lines": written,
        "rows": len(delays),
        "missing": written - len(delays),
        "rows_written_metric": rows - base,
        "p50_ms": round(statistics.median(delays), 1) if delays else float("nan"),
        "p99_ms": round(percentile(delays, 0.99), 1),
        "max_ms": round(delays[-1], 1) if delays else float("nan"),
    }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y)."""
    if len(points) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / den if den else 0.0


def sustain_step(pipe: Pipeline, corpus: list[bytes], rate: int, seconds: float) -> dict[str, Any]:
    """Offer ``rate`` for ``seconds``; did the lag stay flat?"""
    run = kit.unique("s")[-6:]
    base = pipe.rows_written()
    writer = LogWriter(pipe.log, corpus, run, rate).start()
    begin = time.monotonic()
    lags: list[tuple[float, float]] = []
    lost = False
    while time.monotonic() - begin < seconds and pipe.alive():
        time.sleep(1.0)
        written = len(writer.appended)
        lag = written - (pipe.rows_written() - base)
        lags.append((round(time.monotonic() - begin, 1), lag))
        if lag > 10 * rate and lags[-1][0] >= 10:
            lost = True  # ten seconds behind: no need to watch it fall further
            break
    written = writer.stop()
    elapsed = time.monotonic() - begin
    offered = written / elapsed
    warm = [p for p in lags if p[0] >= min(5.0, seconds / 3)]
    growth = slope(warm)
    final_lag = lags[-1][1] if lags else float("nan")
    kept_rate = offered >= 0.95 * rate
    flat = not lost and (growth < 0.02 * rate or final_lag < rate)
    return {
        "offered": rate,
        "achieved_offered": round(offered, 1),
        "seconds": round(elapsed, 1),
        "lag_slope_per_s": round(growth, 1),
        "final_lag": final_lag,
        "sustained": bool(kept_rate and flat and pipe.alive()),
        "writer_kept_rate": kept_rate,
        "lag": lags,
        "_base": base,
        "_written": written,
    }


def run(
    quick: bool,
    tutorial_table: bool = False,
    client: str = "kafka-python",
    rates: list[int] | None = None,
) -> dict[str, Any]:
    """The whole end-to-end section (one pass: a run is one long experiment).

    ``tutorial_table``: into the tutorial's table rather than the one ``schema`` makes
    (run alone, ``--tutorial-table``: how fast the pipeline goes where the node's cost per
    row is what it was before the field columns). ``client``: the Kafka client of both
    daemons (run alone, ``--fast``: both on confluent-kafka, the ``fast`` extra).
    ``rates``: the steps of the search, in place of the usual ones (run alone,
    ``--rates 16000,18000,20000``: a closer look near a limit)."""
    step_seconds = 10.0 if quick else 60.0
    delay_seconds = 10.0 if quick else 30.0
    corpus = load_lines(kit.CORPUS)
    topic = kit.create_topic(kit.unique("e2e"))
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    out: dict[str, Any] = {"step_seconds": step_seconds, "delay_seconds": delay_seconds}
    out["table"] = "tutorial" if tutorial_table else "schema"
    out["kafka_client"] = client
    phases: list[tuple[float, str]] = []
    with kit.keyspace(kit.unique("e2e"), tutorial_table) as keyspace:
        conn = CassandraConnection(contact_points=kit.CONTACT_POINTS, keyspace=keyspace)
        pipe = Pipeline(work, topic, keyspace, client)
        sampler = kit.RssSampler(
            {"logs2kafka": pipe.tailer.pid, "kafka2cassandra": pipe.poller.pid}
        ).start()
        try:
            out["delay"] = {}
            for rate in (1000, 5000):
                phases.append((time.monotonic() - sampler.t0, f"{rate}/s delay"))
                kit.say(f"  end to end: {rate} lines/s for {delay_seconds:.0f} s")
                out["delay"][str(rate)] = step = delay_step(pipe, corpus, rate, delay_seconds, conn)
                kit.say(
                    f"    p50 {step['p50_ms']} ms  p99 {step['p99_ms']} ms  max {step['max_ms']} ms"
                    f"  missing {step['missing']}"
                )
            out["sustain"] = search(pipe, corpus, step_seconds, quick, sampler, phases, rates)
        finally:
            out["memory_series"] = sampler.stop()
            out["peak_rss_mb"] = pipe.stop()
            out["phases"] = phases
            kit.delete_topics([topic, f"{topic}_dlq"])
            shutil.rmtree(work, ignore_errors=True)
    steps = out["sustain"]["steps"]
    held = [s["offered"] for s in steps if s["sustained"]]
    out["sustained_rate"] = max(held) if held else 0
    return out


def search(
    pipe: Pipeline,
    corpus: list[bytes],
    seconds: float,
    quick: bool,
    sampler: kit.RssSampler,
    phases: list[tuple[float, str]],
    rates: list[int] | None = None,
) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    rates = rates or [2000, 4000, 8000, 16000, 24000, 32000]
    good, bad = 0, 0
    for rate in rates:
        step = run_step(pipe, corpus, rate, seconds, sampler, phases)
        steps.append(step)
        if not step["sustained"]:
            bad = rate
            break
        good = rate
    if bad and good and not quick:
        # Between the last rate held and the first lost, once the backlog has drained.
        if wait_rows(pipe, steps[-1]["_target"], timeout=90.0) >= steps[-1]["_target"]:
            steps.append(run_step(pipe, corpus, (good + bad) // 2, seconds, sampler, phases))
        else:
            kit.say("    backlog not drained within 90 s: no step in between")
    for step in steps:
        step.pop("_target", None)
    return {"steps": steps}


def run_step(
    pipe: Pipeline,
    corpus: list[bytes],
    rate: int,
    seconds: float,
    sampler: kit.RssSampler,
    phases: list[tuple[float, str]],
) -> dict[str, Any]:
    phases.append((time.monotonic() - sampler.t0, f"{rate}/s"))
    kit.say(f"  sustained rate: offering {rate} lines/s for {seconds:.0f} s")
    step = sustain_step(pipe, corpus, rate, seconds)
    base, written = step.pop("_base"), step.pop("_written")
    step["_target"] = base + written
    kit.say(
        f"    achieved {step['achieved_offered']:.0f}/s, lag slope {step['lag_slope_per_s']}/s,"
        f" final lag {step['final_lag']} lines: {'held' if step['sustained'] else 'fell behind'}"
    )
    # Catch up before the next step (a step that fell behind ends the search anyway).
    catch_up = 60.0 if step["sustained"] else 0.0
    if catch_up:
        wait_rows(pipe, base + written, timeout=catch_up)
    return step


if __name__ == "__main__":
    import json
    import sys

    result = run(
        quick="--quick" in sys.argv,
        tutorial_table="--tutorial-table" in sys.argv,
        client="confluent" if "--fast" in sys.argv else "kafka-python",
        rates=[int(r) for r in sys.argv[sys.argv.index("--rates") + 1].split(",")]
        if "--rates" in sys.argv
        else None,
    )
    print(json.dumps(result, indent=2, default=str))
