"""``make bench`` / ``make bench-quick``: every component beside its baselines, in one run.

Components and their contenders (ours first):

1. Parse + encode (lines/s, one core, in process): bench_parse.py.
2. File -> Kafka (lines/s, peak RSS, CPU seconds per 100,000 lines): ``logs2kafka ship``
   and the tutorial's forwarder (bench_ship.py), ``logs2kafka tail`` with either Kafka
   client and each Kafka client alone (client_alone.py, the floor), rsyslog
   imfile+omkafka, Fluent Bit (two configurations, when ``LOGPIPE_BENCH_FLUENT_BIT``
   names a binary) and ``kcat -P`` (bench_shippers.py).
3. Kafka -> Cassandra (rows/s, peak RSS): ``kafka2cassandra poll``, the tutorial's
   poller and the driver's ``execute_concurrent`` (bench_poll.py); beside the Java loader,
   the node's real ceiling, and the DataStax Kafka connector, the peer (bench_ceiling.py,
   bench_connector.py); records in one of a topic's partitions against the same records
   spread out (bench_skew.py).
4. End to end and 5. memory over time (bench_e2e.py): one long experiment, run once.
6. kafka2cassandra draining a backlog of 1,000,000 records: peak RSS, rows/s
   (bench_backlog.py), run once.
7. Kafka -> Cassandra with the field columns, beside the tutorial's table that stores
   the raw line only (bench_fields.py).
8. ``query --status 5xx --since 1h`` and ``--count-by status`` on 1,000,000 rows, beside
   a full scan that parses every raw line (bench_query.py), run once, only when asked
   (``--only query``: it takes about a quarter of an hour).
9. The three-node cluster beside the single node (bench_cluster.py): kafka2cassandra
   rows/s at ONE and LOCAL_QUORUM, per replica with one to three replicas, and
   logs2kafka lines/s per CPU second; its own interleaved rounds.
10. The shippers following a log written one line per write() at a steady 2,000
    lines/s for 60 s (bench_steady.py): share of one core and RSS; its own interleaved
    rounds (20 s, one round, in quick mode).

Rounds interleave the contenders (ours, baselines, ours, baselines, ...), so a busy
minute of the machine hits all of them; each figure is the median over the rounds
(3 by default, 1 in quick mode). Everything goes to fresh topics and keyspaces named
after this run, removed at the end. Writes bench/results/latest.json, docs/benchmarks.md
and the charts (bench/report.py); a quick run writes them into bench/results/local/
instead, which git ignores, so only a full run changes the committed results.

    .venv/bin/python bench/run.py [--quick] [--runs N]
        [--only parse,ship,poll,fields,ceiling,skew,e2e,backlog,cluster,steady,query]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit as kit

#: Measurements a restart of the shared services hit on every try.
DISTURBED: list[str] = []
TRIES = 3

#: Sizes per mode: lines (or rows) per measurement.
SIZES = {
    "quick": {"parse": 20_000, "ship": 50_000, "c_ship": 150_000, "tutorial_ship": 1_000,
              "poll": 20_000, "tutorial_poll": 1_000, "fields": 20_000,
              "ceiling": 20_000, "skew": 20_000},
    "full": {"parse": 100_000, "ship": 200_000, "c_ship": 1_000_000, "tutorial_ship": 5_000,
             "poll": 100_000, "tutorial_poll": 3_000, "fields": 50_000,
             "ceiling": 100_000, "skew": 60_000},
}  # fmt: skip
#: The steady-rate measurement per mode: (lines/s, seconds of writing).
STEADY = {"quick": (2000, 20), "full": (2000, 60)}


@dataclass
class Component:
    key: str
    title: str
    unit: str
    ours: str
    round: Callable[[dict[str, int]], dict[str, dict[str, Any]]]
    note: str = ""
    #: Our other rows, each set against the baseline that does the same job.
    pairs: dict[str, str] = field(default_factory=dict)


class Context:
    """What the rounds share: the offsets reader, the topics to delete, a work folder."""

    def __init__(self) -> None:
        self.offsets = kit.Offsets()
        self.topics: list[str] = []
        self.work = Path(tempfile.mkdtemp(prefix="bench-run-"))
        self.files: dict[int, Path] = {}

    def corpus_file(self, lines: int) -> Path:
        if lines not in self.files:
            self.files[lines] = kit.write_file(
                self.work / f"access-{lines}.log", kit.repeated(kit.corpus_lines(), lines)
            )
        return self.files[lines]

    def close(self) -> None:
        self.offsets.close()
        kit.delete_topics(self.topics)
        shutil.rmtree(self.work, ignore_errors=True)


def optional(module: str) -> Any:
    """A component script, or None (its rows are then reported as unavailable)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        kit.say(f"  UNAVAILABLE: bench/{module}.py could not be imported ({exc})")
        return None


def unavailable(why: str, *names: str) -> dict[str, dict[str, Any]]:
    return {name: {"unavailable": why} for name in names}


def guarded(name: str, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One contender's measurement; a failure is recorded, never faked as a number."""
    try:
        return measure()
    except Exception as exc:
        kit.say(f"  {name} FAILED: {exc}")
        traceback.print_exc(limit=3)
        return {"failed": f"{type(exc).__name__}: {str(exc)[:300]}"}


# --- the components --------------------------------------------------------------------


def parse_round(ctx: Context, sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    module = optional("bench_parse")
    names = ("logpipe", "logpipe, compiled encoder", "tutorial parse", "apache-log-parser")
    if module is None:
        return unavailable("bench/bench_parse.py missing", *names)
    return module.run(sizes["parse"])


def ship_round(ctx: Context, sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    module = optional("bench_ship")
    path = ctx.corpus_file(sizes["ship"])
    if module is None:
        rows.update(unavailable("bench/bench_ship.py missing", "logs2kafka ship",
                                "tutorial forwarder"))  # fmt: skip
    else:
        rows["logs2kafka ship"] = guarded(
            "logs2kafka ship",
            lambda: appended(
                ctx, module.ship_once(path, sizes["ship"], "kafka-python", ctx.topics, ctx.offsets)
            ),
        )
        if importlib.util.find_spec("confluent_kafka") is not None:
            rows["logs2kafka ship --kafka-client confluent"] = guarded(
                "logs2kafka ship (confluent)",
                lambda: appended(
                    ctx, module.ship_once(path, sizes["ship"], "confluent", ctx.topics, ctx.offsets)
                ),
            )
        rows["tutorial forwarder"] = guarded(
            "tutorial forwarder",
            lambda: appended(
                ctx, module.tutorial_once(path, sizes["tutorial_ship"], ctx.topics, ctx.offsets)
            ),
        )
    import bench_shippers

    rows.update(
        bench_shippers.run(sizes["ship"], ctx.offsets, ctx.topics, ctx.work, sizes["c_ship"])
    )
    return rows


def appended(ctx: Context, row: dict[str, Any]) -> dict[str, Any]:
    """bench_ship's row, timed like the other shippers: by the broker's append times.

    The program's own timer (from connecting to the last acknowledgement) is kept as
    ``program_rate``.
    """
    out = rate_of(row)
    out["program_rate"] = out.pop("rate")
    out["rate"] = kit.append_rate(ctx.topics[-1])["rate"]
    return out


def poll_round(ctx: Context, sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    module = optional("bench_poll")
    names = ("kafka2cassandra poll", "tutorial poller", "execute_concurrent ceiling")
    if module is None:
        return unavailable("bench/bench_poll.py missing", *names)
    variants = "now:32" if sizes["poll"] < 50_000 else "now:32,event:32"
    if module.has_confluent():
        variants += ",now:32:confluent"
    measured = module.run(sizes["poll"], sizes["tutorial_poll"], variants)
    renamed = {
        "logpipe --log-id now --batch-rows 32": "kafka2cassandra poll",
        "logpipe --log-id event --batch-rows 32": "kafka2cassandra poll --log-id event",
        "logpipe --log-id now --batch-rows 32 --kafka-client confluent": (
            "kafka2cassandra poll --kafka-client confluent"
        ),
        "tutorial poller": "tutorial poller",
        "ceiling (execute_concurrent)": "execute_concurrent ceiling",
    }
    order = [n for n in renamed if n in measured] + [n for n in measured if n not in renamed]
    return {renamed.get(n, n): rate_of(measured[n]) for n in order}


def fields_round(ctx: Context, sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    module = optional("bench_fields")
    if module is None:
        return unavailable("bench/bench_fields.py missing", "kafka2cassandra poll, field columns")
    return {name: rate_of(row) for name, row in module.run(sizes["fields"]).items()}


def ceiling_round(ctx: Context, sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    """kafka2cassandra beside the Java loader (bench_ceiling.py), the node's ceiling, and
    the DataStax Kafka connector, the peer (a connector that left rows out of the table
    gets no rate: the shortfall is its row)."""
    names = ("Java loader, batches of 32", CONNECTOR, "kafka2cassandra poll")
    if shutil.which("mvn") is None or shutil.which("java") is None:
        return unavailable("needs Maven and a JDK 17 to build bench/java-loader", *names)
    module = optional("bench_ceiling")
    if module is None:
        return unavailable("bench/bench_ceiling.py missing", *names)
    variants = "now:32" if sizes["ceiling"] < 50_000 else "now:32,event:32"
    if module.bench_poll.has_confluent():
        variants += ",now:32:confluent"
    measured = module.run(sizes["ceiling"], variants)

    def short(name: str) -> str:  # as the poll component names them
        for part in (" (ceiling)", " --log-id now", " --batch-rows 32"):
            name = name.replace(part, "")
        return name

    return {short(n): complete(rate_of(row)) for n, row in measured.items()}


#: The peer's name in the ceiling component (bench_ceiling.CONNECTOR).
CONNECTOR = "DataStax Kafka connector, 1 task"


def complete(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose run failed or left rows out keeps its numbers but loses its rate."""
    if "rate" not in row or not (row.get("failed") or row.get("shortfall")):
        return row
    why = row.pop("failed", None) or (
        f"wrote {row['rows']:,} of {row['sent']:,} rows (short by {row['shortfall']:,})"
    )
    return {"failed": why, "measured": row}


def skew_round(ctx: Context, sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The same records in one of three partitions, spread, and in a 1-partition topic."""
    module = optional("bench_skew")
    if module is None:
        return unavailable("bench/bench_skew.py missing", SKEWED)
    measured = module.run(sizes["skew"], 3)
    renamed = dict(zip(measured, [SKEWED, SPREAD, "kafka2cassandra poll, 1-partition topic",
                                  "kafka2cassandra poll, 1 of 3, fetch wait 500 ms (before)"],
                       strict=True))  # fmt: skip
    return {renamed[n]: rate_of(row) for n, row in measured.items()}


SKEWED = "kafka2cassandra poll, records in 1 of 3 partitions"
SPREAD = "kafka2cassandra poll, records spread over 3 partitions"


def rate_of(row: dict[str, Any]) -> dict[str, Any]:
    """Component scripts name their rate lines_per_s or rows_per_s; the runner says rate."""
    out = dict(row)
    for key in ("lines_per_s", "rows_per_s"):
        if key in out and "rate" not in out:
            out["rate"] = out.pop(key)
    out.pop("runs", None)
    return out


def components(ctx: Context) -> list[Component]:
    return [
        Component(
            "parse",
            "Parse + encode (one core)",
            "lines/s",
            "logpipe",
            lambda s: parse_round(ctx, s),
        ),
        Component(
            "ship",
            "File -> Kafka",
            "lines/s",
            "logs2kafka ship",
            lambda s: ship_round(ctx, s),
            "lz4, acks=all, one-partition topic; tail, rsyslog, Fluent Bit and kcat by"
            " arrival in Kafka",
            pairs={
                "logs2kafka tail": "rsyslog imfile+omkafka",
                "logs2kafka tail --kafka-client confluent": (
                    "Fluent Bit, defaults (inotify watcher, offsets DB)"
                ),
                "logs2kafka ship --kafka-client confluent": "kcat -P",
            },
        ),
        Component(
            "poll",
            "Kafka -> Cassandra",
            "rows/s",
            "kafka2cassandra poll",
            lambda s: poll_round(ctx, s),
        ),
        Component(
            "fields",
            "Kafka -> Cassandra, field columns",
            "rows/s",
            "kafka2cassandra poll, field columns",
            lambda s: fields_round(ctx, s),
            "parsed envelopes of the real corpus, event mode, batches of 32",
            pairs={
                "kafka2cassandra poll, field columns, no indexes": (
                    "tutorial columns only (today's table)"
                )
            },
        ),
        Component(
            "ceiling",
            "Kafka -> Cassandra, against the Java loader",
            "rows/s",
            "kafka2cassandra poll",
            lambda s: ceiling_round(ctx, s),
            "the loader: java-driver 4.17, same rows, no Kafka, 256 in flight; the connector:"
            " Kafka Connect standalone, 1 task, its defaults (batches of 32, 500 in flight)",
        ),
        Component(
            "skew",
            "Kafka -> Cassandra, records in one partition",
            "rows/s",
            SKEWED,
            lambda s: skew_round(ctx, s),
        ),
    ]


def undisturbed(
    title: str, measure: Callable[[], dict[str, Any]], tries: int | None = None
) -> dict[str, Any]:
    """Run ``measure``; run it again if the shared Kafka or Cassandra restarted meanwhile.

    The local services are shared (tests stop and start them to inject faults): a
    measurement taken across such a restart measures the outage, not the contender.
    Three tries (two in quick mode, to keep within its time).
    """
    tries = tries or TRIES
    for attempt in range(1, tries + 1):
        before = kit.wait_services_up()
        started = time.monotonic()
        result = measure()
        after = kit.service_pids()
        if after == before:
            kit.say(f"  ({title}: {time.monotonic() - started:.0f} s)")
            return result
        kit.say(f"  the local services restarted during {title} ({before} -> {after})")
        if attempt < tries:
            kit.say("  measuring it again once they are up")
    DISTURBED.append(title)
    return result


# --- the run ---------------------------------------------------------------------------


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Median rate and highest peak RSS per contender over the rounds."""
    names: list[str] = []
    for one in rounds:
        names += [n for n in one if n not in names]
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        rows = [one[name] for one in rounds if name in one]
        rates = [float(r["rate"]) for r in rows if "rate" in r]
        entry: dict[str, Any] = {"runs": [rate_of(r) for r in rows]}
        if rates:
            entry["rate"] = round(kit.median(rates), 1)
            rss = [r.get("peak_rss_mb") for r in rows]
            rss = [v for v in rss if isinstance(v, int | float) and v == v]
            if rss:
                entry["peak_rss_mb"] = round(max(rss), 1)
            cpu = [r["cpu_s_per_100k"] for r in rows if "cpu_s_per_100k" in r]
            if cpu:
                entry["cpu_s_per_100k"] = round(kit.median(cpu), 3)
            if "wall_rate" in rows[0]:
                entry["wall_rate"] = round(kit.median([r["wall_rate"] for r in rows]), 1)
            for key in ("cpu_s_per_10k", "cpu_s_per_10k_writing", "cold_rows_per_s"):
                cpu = [r[key] for r in rows if isinstance(r.get(key), int | float)]
                if cpu:
                    entry[key] = round(kit.median(cpu), 3)
        else:
            reasons = [r.get("unavailable") or r.get("failed") for r in rows]
            entry["unavailable"] = next((x for x in reasons if x), "no measurement")
        out[name] = entry
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--runs", type=int, help="rounds (default 3, quick 1)")
    parser.add_argument(
        "--only", default="parse,ship,poll,fields,ceiling,skew,e2e,backlog,cluster,steady"
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="results file (default: bench/results/latest.json; with --quick "
        "bench/results/local/latest.json, which git ignores)",
    )
    opts = parser.parse_args()
    mode = "quick" if opts.quick else "full"
    global TRIES
    TRIES = 2 if opts.quick else 3
    runs = opts.runs or (1 if opts.quick else 3)
    only = set(opts.only.split(","))
    sizes = SIZES[mode]
    started = time.monotonic()
    kit.say(f"== logpipe benchmarks ({mode}: {runs} round(s), run {kit.RUN_ID})")
    import bench_shippers

    for name in ("rsyslog", "kcat"):
        bench_shippers.ensure_package(name)
    results: dict[str, Any] = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": mode,
        "runs": runs,
        "sizes": sizes,
        "machine": {**kit.machine(), **bench_shippers.versions()},
        "components": {},
    }
    ctx = Context()
    try:
        chosen = [c for c in components(ctx) if c.key in only]
        rounds: dict[str, list[dict[str, dict[str, Any]]]] = {c.key: [] for c in chosen}
        for r in range(runs):
            for comp in chosen:
                kit.say(f"== round {r + 1}/{runs}: {comp.title}")
                one = undisturbed(
                    comp.title, lambda comp=comp: guarded(comp.title, lambda: comp.round(sizes))
                )
                if "failed" in one:
                    one = {comp.ours: one}
                for name, row in one.items():
                    shown = (
                        f"{row['rate']:,.0f} {comp.unit}" if "rate" in row else
                        f"unavailable: {row.get('unavailable') or row.get('failed')}"
                    )  # fmt: skip
                    rss = row.get("peak_rss_mb")
                    extra = (
                        f", peak RSS {rss:.0f} MB" if isinstance(rss, float) and rss == rss else ""
                    )
                    if "cpu_s_per_100k" in row:
                        extra += f", {row['cpu_s_per_100k']:.2f} CPU s per 100k lines"
                    kit.say(f"  {name:<42} {shown}{extra}")
                rounds[comp.key].append(one)
        for comp in chosen:
            results["components"][comp.key] = {
                "title": comp.title,
                "unit": comp.unit,
                "ours": comp.ours,
                "note": comp.note,
                "pairs": comp.pairs,
                "contenders": summarize(rounds[comp.key]),
            }
    finally:
        ctx.close()
    if "e2e" in only:
        kit.say("== end to end (both daemons as processes, one pass)")
        import bench_e2e

        results["end_to_end"] = undisturbed(
            "end to end", lambda: guarded("end to end", lambda: bench_e2e.run(opts.quick))
        )
    if "backlog" in only:
        kit.say("== kafka2cassandra draining a backlog (peak RSS, one pass)")
        import bench_backlog

        records = 100_000 if opts.quick else 1_000_000
        results["backlog"] = undisturbed(
            "backlog", lambda: guarded("backlog", lambda: bench_backlog.run(records)), tries=1
        )
        kit.say(f"  {json.dumps(results['backlog'])}")
    if "query" in only:
        kit.say("== query filters beside a full scan (one pass)")
        import bench_query

        rows = 100_000 if opts.quick else 1_000_000
        results["query"] = undisturbed(
            "query", lambda: guarded("query", lambda: bench_query.run(rows)), tries=1
        )
        kit.say(f"  {json.dumps(results['query'])}")
    if "cluster" in only:
        kit.say("== the three-node cluster beside the single node (bench_cluster.py)")
        import bench_cluster

        rows, lines = (30_000, 30_000) if opts.quick else (120_000, 100_000)
        results["cluster"] = undisturbed(
            "cluster",
            lambda: guarded("cluster", lambda: bench_cluster.run(rows, lines, runs)),
            tries=1,
        )
        if "failed" not in results["cluster"]:
            bench_cluster.print_table(results["cluster"])
    if "steady" in only:
        rate, seconds = STEADY[mode]
        kit.say(f"== shippers at a steady {rate:,} lines/s for {seconds} s (bench_steady.py)")
        import bench_steady

        results["steady"] = undisturbed(
            "steady",
            lambda: guarded("steady", lambda: bench_steady.run(rate, seconds, runs)),
            tries=1,
        )
        if "failed" not in results["steady"]:
            kit.say(bench_steady.table(results["steady"]))
    results["duration_s"] = round(time.monotonic() - started, 1)
    disturbed = list(DISTURBED)
    if disturbed:
        # Measured again twice, and a restart of the shared services hit it each time.
        results["services_disturbed"] = disturbed
        kit.say(f"== WARNING: a restart of the local services hit {', '.join(disturbed)}")
    import report

    path = opts.results or report.destinations(opts.quick)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    kit.say(f"== wrote {path} in {results['duration_s']:.0f} s")

    for path in report.write_all(results):
        kit.say(f"== wrote {path}")
    kit.say(report.table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
