"""docs/benchmarks.md and the charts, from bench/results/latest.json.

.venv/bin/python bench/report.py     # redraw from the last results file

Only a full run (``make bench``) writes the committed results (bench/results/latest.json,
the charts beside it, docs/benchmarks.md). A quick run (``make bench-quick``) writes the
same files into bench/results/local/, which git ignores: a first look leaves the checkout
clean and the published table the measured one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import benchkit as kit

DOC = kit.ROOT / "docs" / "benchmarks.md"
RESULTS = kit.BENCH / "results" / "latest.json"
THROUGHPUT_PNG = kit.BENCH / "results" / "throughput.png"
MEMORY_PNG = kit.BENCH / "results" / "memory.png"
#: Where a quick run writes everything (in .gitignore).
LOCAL = kit.BENCH / "results" / "local"


def destinations(quick: bool) -> tuple[Path, Path, Path, Path]:
    """(results JSON, document, throughput chart, memory chart) of a full or quick run."""
    if quick:
        return (
            LOCAL / "latest.json",
            LOCAL / "benchmarks.md",
            LOCAL / "throughput.png",
            LOCAL / "memory.png",
        )
    return RESULTS, DOC, THROUGHPUT_PNG, MEMORY_PNG


#: Our rows, whatever their options: a ratio is ours ÷ a baseline, never ours ÷ ours.
OURS = ("logpipe", "logs2kafka", "kafka2cassandra")
SKEWED = "kafka2cassandra poll, records in 1 of 3 partitions"
SPREAD = "kafka2cassandra poll, records spread over 3 partitions"


def _num(value: Any, digits: int = 0) -> str:
    if not isinstance(value, int | float) or value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def table(results: dict[str, Any]) -> str:
    """The summary table: component, contender, rate, peak RSS, CPU, ours ÷ contender."""
    lines = [
        "| component | contender | rate | peak RSS (MB) | CPU s per 100k lines | ours ÷ this (x) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for comp in results.get("components", {}).values():
        contenders = comp["contenders"]
        ours = contenders.get(comp["ours"], {}).get("rate")
        for name, row in contenders.items():
            label = f"**{name}**" if name == comp["ours"] else name
            if "rate" not in row:
                lines.append(
                    f"| {comp['title']} | {label} | unavailable: {row.get('unavailable')} | | | |"
                )
                continue
            ratio = _ratio(comp, name, row["rate"], ours)
            cpu = _num(row["cpu_s_per_100k"], 2) if "cpu_s_per_100k" in row else "-"
            lines.append(
                f"| {comp['title']} | {label} | {_num(row['rate'])} {comp['unit']} |"
                f" {_num(row['peak_rss_mb'], 1) if 'peak_rss_mb' in row else '-'} | {cpu} |"
                f" {ratio} |"
            )
    e2e = results.get("end_to_end") or {}
    for rate, step in (e2e.get("delay") or {}).items():
        lines.append(
            f"| End to end, {int(rate):,} lines/s offered | append → row delay |"
            f" p50 {_num(step['p50_ms'])} ms, p99 {_num(step['p99_ms'])} ms,"
            f" max {_num(step['max_ms'])} ms | | | |"
        )
    if "sustained_rate" in e2e:
        lines.append(
            f"| End to end | highest rate held {e2e['step_seconds']:.0f} s without growing lag |"
            f" {_num(e2e['sustained_rate'])} lines/s | | | |"
        )
    if "peak_rss_mb" in e2e:
        rss = e2e["peak_rss_mb"]
        lines.append(
            f"| End to end | daemons' peak RSS | logs2kafka {_num(rss.get('logs2kafka'), 1)} MB,"
            f" kafka2cassandra {_num(rss.get('kafka2cassandra'), 1)} MB | | | |"
        )
    return "\n".join(lines)


def _ratio(comp: dict[str, Any], name: str, rate: float, ours: Any) -> str:
    """Ours ÷ a baseline; another of our rows is set against the baseline it matches."""
    if name == comp["ours"]:
        return "1x"
    pair = comp.get("pairs", {}).get(name)
    if pair:
        base = comp["contenders"].get(pair, {}).get("rate")
        if isinstance(base, int | float) and base:
            return f"(ours) this ÷ {pair}: {rate / base:.2f}x"
        return "(ours)"
    if name.startswith(OURS):
        return "(ours)"
    if isinstance(ours, int | float) and rate:
        return f"{ours / rate:.2f}x"
    return "n/a"


def _rate(results: dict[str, Any], comp: str, name: str, key: str = "rate") -> float | None:
    row = results.get("components", {}).get(comp, {}).get("contenders", {}).get(name, {})
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else None


#: The ceiling component's reference rows (bench/run.py names them).
LOADER = "Java loader, batches of 32"
CONNECTOR = "DataStax Kafka connector, 1 task"
#: kafka2cassandra with the fast extra's consumer (bench/run.py names it).
POLL_CONFLUENT = "kafka2cassandra poll --kafka-client confluent"


def _cpu(row: dict[str, Any]) -> str:
    text = _num(row.get("cpu_s_per_10k"), 2)
    if isinstance(row.get("cpu_s_per_10k_writing"), int | float):
        text += f" ({_num(row['cpu_s_per_10k_writing'], 2)} while writing)"
    return text


def _times(rate: float, reference: float | None) -> str:
    return f"{rate / reference:.2f}" if reference else "n/a"


def ceiling_table(results: dict[str, Any]) -> list[str]:
    """Every writer of the ceiling component as a fraction of the Java loader and as a
    multiple of the connector, with its CPU per 10k rows and peak RSS."""
    comp = results.get("components", {}).get("ceiling")
    if not comp:
        return []
    rows = comp["contenders"]
    loader = rows.get(LOADER, {}).get("rate")
    peer = rows.get(CONNECTOR, {}).get("rate")
    lines = [
        "| writer | rows/s | CPU s per 10k rows | peak RSS (MB) | x Java loader | x connector |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    from bench_ceiling import CONSUMER_ALONE, DRIVER_ALONE

    for name, row in rows.items():
        label = f"**{name}**" if name.startswith(OURS) else name
        if "rate" not in row:
            lines.append(f"| {label} | unavailable: {row.get('unavailable')} | | | | |")
            continue
        rate = row["rate"]
        cold = row.get("cold_rows_per_s")
        shown = _num(rate) + (f" ({_num(cold)} from its first row)" if cold else "")
        # A client alone does half of the job: no ratio to a whole writer.
        whole = name not in (CONSUMER_ALONE, DRIVER_ALONE)
        lines.append(
            f"| {label} | {shown} | {_cpu(row)} | {_num(row.get('peak_rss_mb'))} |"
            f" {_times(rate, loader) if whole else '-'} | {_times(rate, peer) if whole else '-'} |"
        )
    return lines


def goals(results: dict[str, Any]) -> list[str]:
    """The goals the issues set, each with this run's figure and whether it is met."""
    r = lambda c, n, k="rate": _rate(results, c, n, k)  # noqa: E731
    div = lambda a, b: a / b if a is not None and b else None  # noqa: E731
    ship, confluent = "logs2kafka ship", "logs2kafka ship --kafka-client confluent"
    checks = [
        ("parse + encode, lines/s", r("parse", "logpipe"), 200_000, ">="),
        (
            "parse + encode, x apache-log-parser",
            div(r("parse", "logpipe"), r("parse", "apache-log-parser")),
            7,
            ">=",
        ),
        ("ship (kafka-python), lines/s", r("ship", ship), 30_000, ">="),
        (
            "ship (kafka-python), x tutorial forwarder",
            div(r("ship", ship), r("ship", "tutorial forwarder")),
            30,
            ">=",
        ),
        ("ship (confluent), lines/s", r("ship", confluent), 100_000, ">="),
        ("ship (kafka-python), peak RSS MB", r("ship", ship, "peak_rss_mb"), 80, "<"),
        ("ship (confluent), peak RSS MB", r("ship", confluent, "peak_rss_mb"), 80, "<"),
        (
            "poll, x tutorial poller",
            div(r("poll", "kafka2cassandra poll"), r("poll", "tutorial poller")),
            20,
            ">=",
        ),
        (
            "poll, x Java loader (batches of 32)",
            div(r("ceiling", "kafka2cassandra poll"), r("ceiling", "Java loader, batches of 32")),
            0.35,
            ">=",
        ),
        (
            "poll, x DataStax Kafka connector (1 task)",
            div(r("ceiling", "kafka2cassandra poll"), r("ceiling", CONNECTOR)),
            3,
            ">=",
        ),
        (
            "poll (confluent), x Java loader (batches of 32)",
            div(r("ceiling", POLL_CONFLUENT), r("ceiling", "Java loader, batches of 32")),
            0.6,
            ">=",
        ),
        (
            "poll (confluent), x DataStax Kafka connector (1 task)",
            div(r("ceiling", POLL_CONFLUENT), r("ceiling", CONNECTOR)),
            3,
            ">=",
        ),
        (
            "poll (confluent), CPU s per 10k rows",
            r("ceiling", POLL_CONFLUENT, "cpu_s_per_10k"),
            0.12,
            "<=",
        ),
        ("poll (confluent), peak RSS MB", r("ceiling", POLL_CONFLUENT, "peak_rss_mb"), 150, "<"),
        (
            "poll, records in 1 of 3 partitions, x spread",
            div(r("skew", SKEWED), r("skew", SPREAD)),
            0.9,
            ">=",
        ),
        (
            "poll with field columns, x tutorial columns only",
            div(
                r("fields", "kafka2cassandra poll, field columns"),
                r("fields", "kafka2cassandra poll, tutorial columns only (today's table)"),
            ),
            0.8,
            ">=",
        ),
        (
            "(the node's own) Java loader with field columns, x tutorial columns only",
            div(
                r("fields", "Java loader, field columns"),
                r("fields", "Java loader, tutorial columns only"),
            ),
            0.8,
            ">=",
        ),
    ]
    checks += _cost_goals(results)
    lines = ["| goal | this run | target | met |", "|---|---:|---:|---|"]
    for label, value, target, op in checks:
        if value is None:
            lines.append(f"| {label} | n/a | {op} {target:,} | n/a |")
            continue
        met = {">=": value >= target, "<=": value <= target, "<": value < target}[op]
        shown = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
        lines.append(f"| {label} | {shown} | {op} {target:,} | {'yes' if met else 'no'} |")
    return lines


TAIL = "logs2kafka tail"
TAIL_CONFLUENT = "logs2kafka tail --kafka-client confluent"
FLUENT_BIT_DEFAULT = "Fluent Bit, defaults (inotify watcher, offsets DB)"


def _cost_goals(results: dict[str, Any]) -> list[tuple[str, float | None, float, str]]:
    """What a host pays per line (issue 17): against Fluent Bit, CPU and RSS."""
    r = lambda c, n, k="rate": _rate(results, c, n, k)  # noqa: E731
    fluent = r("ship", FLUENT_BIT_DEFAULT)
    confluent = r("ship", TAIL_CONFLUENT)
    steady = results.get("steady") or {}
    at = "steady 2,000 lines/s"
    if steady.get("rate") not in (None, 2000):  # the goals are set at 2,000 lines/s
        steady = {}

    def s(name: str, key: str) -> float | None:
        value = (steady.get("contenders") or {}).get(name, {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    return [
        (
            "tail (confluent) burst, x Fluent Bit defaults",
            confluent / fluent if confluent is not None and fluent else None,
            1.0,
            ">=",
        ),
        ("tail (confluent), CPU s per 100k lines", r("ship", TAIL_CONFLUENT, "cpu_s_per_100k"),
         0.8, "<="),
        ("tail (kafka-python), CPU s per 100k lines", r("ship", TAIL, "cpu_s_per_100k"),
         2.5, "<="),
        (f"tail (confluent), {at}, % of one core", s(TAIL_CONFLUENT, "cpu_pct"), 2.0, "<="),
        (f"tail (kafka-python), {at}, % of one core", s(TAIL, "cpu_pct"), 4.0, "<="),
        (f"tail (confluent), {at}, peak RSS MB", s(TAIL_CONFLUENT, "rss_peak_mb"), 40, "<="),
        (f"tail (kafka-python), {at}, peak RSS MB", s(TAIL, "rss_peak_mb"), 40, "<="),
    ]  # fmt: skip


def floors(results: dict[str, Any]) -> list[str]:
    """What each Kafka client alone costs in the same run, beside the goals of the tail
    on it: a goal below that cannot be met by a shipper using the client the same way."""
    import bench_shippers

    steady = (results.get("steady") or {}).get("contenders") or {}
    parts = []
    for client, name in bench_shippers.ALONE.items():
        burst = _rate(results, "ship", name, "cpu_s_per_100k")
        row = steady.get(name) or {}
        shown = []
        if burst is not None:
            shown.append(f"{burst:.2f} CPU s per 100k lines in the burst")
        if isinstance(row.get("cpu_pct"), int | float):
            shown.append(
                f"{row['cpu_pct']:.2f}% of one core and {row['rss_peak_mb']:.1f} MB peak RSS"
                " at the steady rate"
            )
        if shown:
            parts.append(f"{client}: " + ", ".join(shown))
    lines = []
    if parts:
        lines += [
            "The floor under the tail's goals, each Kafka client alone in this run (raw lines,",
            "no parsing, envelope or checkpoint; `bench/client_alone.py`): "
            + "; ".join(parts)
            + ".",
            "",
        ]
    return lines + poll_floor(results)


def poll_floor(results: dict[str, Any]) -> list[str]:
    """What the fast path's two clients alone cost in the same run, and the poller's own
    start-up, beside the goal of CPU per 10k rows: their sum is spent before any row is
    decoded or built."""
    from bench_ceiling import CONSUMER_ALONE, DRIVER_ALONE

    consumer = _rate(results, "ceiling", CONSUMER_ALONE, "cpu_s_per_10k_writing")
    driver = _rate(results, "ceiling", DRIVER_ALONE, "cpu_s_per_10k_writing")
    whole = _rate(results, "ceiling", POLL_CONFLUENT, "cpu_s_per_10k")
    draining = _rate(results, "ceiling", POLL_CONFLUENT, "cpu_s_per_10k_writing")
    if None in (consumer, driver, whole, draining):
        return []
    start = whole - draining  # type: ignore[operator]
    total = consumer + driver + start  # type: ignore[operator]
    return [
        "The floor under the poller's CPU goal, in this run (CPU s per 10k rows): the",
        f"confluent consumer alone {consumer:.3f} while draining, cassandra-driver alone",
        f"{driver:.3f} while sending batches built beforehand, and kafka2cassandra's own",
        f"start-up and shutdown {start:.3f} (its whole-process figure less its draining one):",
        f"{total:.3f} together, before a single envelope is decoded or row built.",
        "",
    ]


#: How to get the Fluent Bit the bench compares with (not packaged for Debian).
FLUENT_BIT_BUILD = [
    "### Fluent Bit",
    "",
    "Fluent Bit is not packaged for Debian: its rows are measured when",
    "`LOGPIPE_BENCH_FLUENT_BIT` names a `fluent-bit` binary (else they say unavailable, and",
    "why). Its `apache2` parser is read from `LOGPIPE_BENCH_FLUENT_BIT_PARSERS`, by default",
    "the `conf/parsers.conf` of the sources the binary was built from (found through the",
    "build directory's `CMakeCache.txt`). None of Fluent Bit is in this repository. The",
    "peer is Fluent Bit 5.1.1 (the line at the top names the version measured), built from",
    "its sources (about 20 minutes on two cores):",
    "",
    "```sh",
    "sudo apt-get install -y build-essential cmake pkg-config flex bison libsqlite3-dev \\",
    "    libssl-dev zlib1g-dev",
    "git clone --depth 1 --branch v5.1.1 https://github.com/fluent/fluent-bit.git",
    "cmake -S fluent-bit -B fluent-bit/build -DFLB_MINIMAL=On -DFLB_IN_TAIL=On \\",
    "    -DFLB_OUT_KAFKA=On -DFLB_KAFKA=On -DFLB_PARSER=On -DFLB_REGEX=On -DFLB_SQLDB=On \\",
    "    -DFLB_PREFER_SYSTEM_LIB_SQLITE=On",
    "make -C fluent-bit/build -j2   # fluent-bit/build/bin/fluent-bit",
    "LOGPIPE_BENCH_FLUENT_BIT=$PWD/fluent-bit/build/bin/fluent-bit make bench",
    "```",
    "",
    "`FLB_HTTP_SERVER` and `FLB_AWS` stay on: turning either off fails to build in 5.1.1.",
    "",
]


#: How to get the DataStax Kafka connector the bench compares with (not on Maven Central).
CONNECTOR_BUILD = [
    "### The DataStax Kafka connector",
    "",
    "The DataStax Apache Kafka Connector (Cassandra sink) is not on Maven Central: its",
    "rows are measured when `LOGPIPE_BENCH_CONNECTOR_JAR` names its built jar and",
    "`LOGPIPE_BENCH_CONNECT_LIB` a folder of Kafka Connect's jars (else they say",
    "unavailable, and why). None of the connector is in this repository.",
    "",
    "The connector's source is public (the GitHub repository datastax/kafka-sink,",
    "Apache-2.0; measured here: commit d4cd34d, version 1.4.1-SNAPSHOT) and builds with",
    "Maven from Maven Central alone once its POMs are edited. In the root `pom.xml`,",
    "delete the `<repositories>` block (DataStax's own repositories and Confluent's) and",
    "the `io.confluent:kafka-connect-avro-converter` entry of `<dependencyManagement>`;",
    "in `sink/pom.xml`, delete that dependency, and delete the one unit test that uses it",
    "(`sink/src/test/java/com/datastax/oss/kafka/sink/AvroJsonConvertersTest.java`; no",
    "main code does). With JDK 17, also remove from the root POM's `jdk11` profile the",
    "ErrorProne compiler arguments (`-XDcompilePolicy=simple`, `-Xplugin:ErrorProne`)",
    "and its `<annotationProcessorPaths>`: ErrorProne 2.4.0 crashes javac 17 (the code",
    "still compiles for Java 8). Then `mvn -B -DskipTests -Dmaven.javadoc.skip=true",
    "package` (about 30 s once the dependencies are downloaded) writes",
    "`dist/target/kafka-connect-cassandra-sink-1.4.1-SNAPSHOT.jar`.",
    "",
    "Kafka Connect's jars, of the Kafka the bench runs (4.3.1), come from Maven Central:",
    "a throwaway POM that depends on `org.apache.kafka:connect-runtime`, `connect-json`",
    "and `connect-transforms` and on a log4j2 backend (`org.apache.logging.log4j:`",
    "`log4j-api`, `log4j-core`, `log4j-slf4j-impl`), then",
    "`mvn -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib`",
    "in its folder.",
    "",
    "```sh",
    "export LOGPIPE_BENCH_CONNECTOR_JAR=$PWD/kafka-sink/dist/target/\\",
    "kafka-connect-cassandra-sink-1.4.1-SNAPSHOT.jar",
    "export LOGPIPE_BENCH_CONNECT_LIB=$PWD/connect-runtime/lib",
    "make bench",
    "```",
    "",
    "The bench starts `java -Xms256m -Xmx512m -cp '$LOGPIPE_BENCH_CONNECT_LIB/*'",
    "org.apache.kafka.connect.cli.ConnectStandalone worker.properties sink.properties`",
    "with the jar alone in a folder on `plugin.path` (its own class loader, as deployed)",
    "and the REST listener on a free loopback port.",
    "",
]


def steady_section(results: dict[str, Any]) -> list[str]:
    """The steady-rate table: each shipper's share of a core and its RSS."""
    steady = results.get("steady") or {}
    if not steady:
        return []
    if steady.get("failed"):
        return ["## Shippers at a steady rate", "", f"Failed in this run: {steady['failed']}", ""]
    import bench_steady

    return [
        f"## Shippers at a steady {_num(steady['rate'])} lines/s",
        "",
        f"A writer appends one line per write() at {_num(steady['rate'])} lines/s for"
        f" {_num(steady['seconds'])} s; each shipper's CPU over the window (from"
        f" {_num(steady['warmup'])} s after the first line to the last) as a share of one"
        f" core, its RSS sampled every half second; median of {steady['runs']} interleaved"
        " round(s) (RSS peak: the highest).",
        "",
        bench_steady.table(steady),
        "",
    ]


def _machine(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (
        f"{m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gb')} GB memory, "
        f"Python {m.get('python')}, Apache Kafka {m.get('kafka')}, Apache Cassandra "
        f"{m.get('cassandra')}"
        + (f" (heap {m['cassandra_heap']})" if m.get("cassandra_heap") else "")
        + f", rsyslog {m.get('rsyslog')}, kcat {m.get('kcat')}, Fluent Bit "
        f"{m.get('fluent_bit') or 'not available'}; {m.get('os')}"
    )


def document(results: dict[str, Any]) -> str:
    quick = results["mode"] == "quick"
    _json, doc, throughput_png, memory_png = destinations(quick)
    links = {
        "throughput": os.path.relpath(throughput_png, doc.parent),
        "memory": os.path.relpath(memory_png, doc.parent),
    }
    e2e = results.get("end_to_end") or {}
    sizes = results.get("sizes", {})
    parts = [
        "# Benchmarks",
        "",
        (
            "> **Quick run** (`make bench-quick`: small sizes, one round): indicative only; "
            "`make bench` takes the medians of three rounds on larger sizes.\n"
            if quick
            else ""
        ),
        f"Measured {results['generated']} by `make {'bench-quick' if quick else 'bench'}` in "
        f"{results['duration_s']:.0f} s, {results['runs']} round(s), on {_machine(results)}.",
        "Absolute figures move with whatever else the machine runs; the ratios, measured in",
        "the same run with the contenders interleaved, are what to compare.",
        "",
        (
            "> **Warning**: a restart of the shared local Kafka or Cassandra (by other work on "
            "the machine) hit these measurements on every try: "
            f"{', '.join(results['services_disturbed'])}; their figures include that outage.\n"
            if results.get("services_disturbed")
            else ""
        ),
        table(results),
        "",
        f"![throughput per component]({links['throughput']})",
        "",
        *(
            [
                "## Kafka -> Cassandra: the node's ceiling and the connector",
                "",
                "The same rows, the same table, in the same rounds: the Java loader (what this",
                "Cassandra node accepts, no Kafka), the DataStax Kafka connector with one task",
                "(what people deploy today) and kafka2cassandra (both from the same topic).",
                "CPU is the whole process's, start-up included (the loader's over its warm-up",
                "rows too); the connector's JVM spends several seconds of it starting (plugin",
                "scanning, the JIT), so its CPU over its timed rows is beside it, as is",
                "kafka2cassandra's over its draining (from its first record to its last row).",
                "The last rows are the two clients of kafka2cassandra's fast path, each alone on",
                "the same rows: the confluent consumer draining the topic and dropping the",
                "records, and cassandra-driver sending batches of 32 built before its clock",
                "starts. They do half of the job each, so they get no ratio.",
                "",
                *ceiling_table(results),
                "",
            ]
            if ceiling_table(results)
            else []
        ),
        "## Goals set in the issues",
        "",
        *goals(results),
        "",
        *floors(results),
        "## How each figure is taken",
        "",
        "Every contender runs as a fresh process on the same data (the real Apache corpus in",
        "`tests/data/access-combined-real.log`, repeated to size) against the same local",
        "Kafka and Cassandra, into topics and keyspaces of its own; nothing of ours is warmed",
        "or cached more than a baseline. A figure is the median over the rounds; peak RSS is",
        "the highest kernel high-water mark (VmHWM) of the process over the rounds.",
        "",
        "- **Parse + encode**: `bench/bench_parse.py`, in one process: ours is",
        "  `LineParser('combined')` + `envelope.encode`; the tutorial's parse is reproduced in",
        "  `bench/baselines/tutorial_forwarder_parse.py`; `apache-log-parser` with the combined",
        "  format, its result encoded with orjson. The rate is lines per CPU second of that",
        "  process (what one core delivers; on a shared machine wall-clock time would also",
        "  count the time other processes held the core); no RSS of its own.",
        "- **File -> Kafka**: every shipper produces into a fresh one-partition topic whose",
        "  timestamps the broker sets as it appends (`LogAppendTime`); the rate is the records",
        "  after the first batch over the time from that batch's append to the last record's,",
        "  the same clock for every contender, start-up and connecting left out, and every",
        "  line counted in Kafka. `logs2kafka ship` and the tutorial's forwarder",
        "  (`bench/baselines/tutorial_forwarder.py`, one synchronous send per line, on",
        f"  {_num(sizes.get('tutorial_ship'))} lines) run through `bench/bench_ship.py`",
        "  (their own timers are kept as `program_rate` in the JSON). `logs2kafka tail` (with",
        "  kafka-python, and with `--kafka-client confluent`), rsyslog (Debian's `rsyslog` +",
        "  `rsyslog-kafka`: `imfile` in inotify mode, `omkafka`, the raw line as the message),",
        "  Fluent Bit (`in_tail` with its `apache2` parser and an offsets database `DB`,",
        "  `out_kafka`; once with its defaults, an inotify watcher, and once with",
        "  `Inotify_Watcher false`, a stat of the file every 250 ms) and `kcat -P -l` (Debian's",
        "  `kcat`, librdkafka) run through `bench/bench_shippers.py`; all but kcat follow an",
        "  empty file that a writer then fills at full speed. Each Kafka client alone",
        "  (`bench/client_alone.py`: the file read every 0.1 s, each raw line produced with",
        "  logs2kafka's producer settings, nothing else) shows what the client itself costs.",
        "  The confluent tail and client, rsyslog, Fluent Bit and",
        f"  kcat get {_num(sizes.get('c_ship'))} lines (the kafka-python tail and client",
        f"  {_num(sizes.get('ship'))}) so that their much shorter runs can still be timed. All",
        "  produce with lz4 and acks=all; rsyslog and kcat ship the raw line, Fluent Bit the",
        "  parser's fields as JSON without the raw line, we parse it and ship the JSON",
        "  envelope with the raw line. **CPU s per 100k lines** is the shipper process's own",
        "  CPU time (user + system, all threads): for a follower, from the moment the writer",
        "  starts (it is ready and idle then) to the moment the last line is in Kafka,",
        "  start-up and shutdown left out; for kcat, which starts, ships and exits, its whole",
        "  run (its rusage at exit).",
        "- **Kafka -> Cassandra**: `bench/bench_poll.py`: a pre-filled topic drained by",
        "  `kafka2cassandra poll` (the `Poller` that command runs, in a process of its own,",
        "  default settings), by the tutorial's poller (`bench/baselines/tutorial_poller.py`,",
        "  one synchronous insert per message), and the same rows inserted with the driver's",
        "  `execute_concurrent` and no Kafka (a baseline: one prepared `INSERT ... now()` per",
        "  row, 256 concurrent). The poller writes the rows of one partition key 32 to an",
        "  unlogged batch (`--batch-rows`, default 32), one request per batch; rates count",
        "  from the first record to the last acknowledged write, connecting and joining left",
        "  out. With confluent-kafka installed (`logpipe[fast]`), the poller runs once more",
        "  with `--kafka-client confluent` (the librdkafka consumer), here and against the",
        "  Java loader.",
        "- **Kafka -> Cassandra, against the Java loader**: `bench/bench_ceiling.py`: what",
        "  this Cassandra node accepts, measured by `bench/java-loader` (the DataStax Java",
        "  driver 4.17, built with Maven from Maven Central on first use; `mvn` and a JDK 17",
        "  needed, else reported unavailable): the same rows and `INSERT ... now()`, the rows",
        "  of one partition key in unlogged batches of 32 (and, second row, one row per",
        "  request), 256 requests in flight, asynchronous, no Kafka. It first writes up to",
        "  20,000 of the rows untimed (the JIT warming up). `kafka2cassandra poll` drains a",
        "  topic of the same rows in the same round; ours ÷ the loader is the fraction of",
        "  the ceiling. The peer, in the same round: the DataStax Apache Kafka Connector",
        "  (Cassandra sink, `bench/bench_connector.py`) on Kafka Connect standalone, one",
        "  task, its defaults (unlogged batches of up to 32 rows of one partition key, 500",
        "  requests in flight), a 512 MB heap, JSON values without schemas, an",
        "  `ExtractField$Value` transform on `log` (the connector maps only top-level",
        "  fields) and the mapping `log_source=value.source, log_type=value.type,",
        "  log_datetime=value.datetime, log_id=now(), log=value.log` into the same table.",
        "  Its group commits offsets every 500 ms; once they cover the topic the worker is",
        "  stopped and the table read once: the row count must equal the records (a",
        "  shortfall is reported instead of a rate), and each row's `toTimestamp(log_id)`",
        "  is when the connector bound it (it makes the timeuuid of `now()` itself; the",
        "  span misses the last batch's round trip, in its favour). Like the loader, the",
        "  JVM gets a warm-up: its rate runs from the row after its first 20,000 (at most",
        "  half the rows) to the last; its rate from its first row is shown beside it.",
        "  Start-up and group join are left out as for the others.",
        "- **Kafka -> Cassandra, records in one partition**: `bench/bench_skew.py`: the same",
        f"  {_num(sizes.get('skew'))} envelopes in one of a 3-partition topic's partitions, dealt",
        "  over its 3 partitions, and in a 1-partition topic, each drained by",
        "  `kafka2cassandra poll`; and once more the first layout with the Kafka client's",
        "  default fetch wait (500 ms, before kafka2cassandra set 50 ms: the broker held each",
        "  fetch of the idle partitions that long while the busy one waited behind it).",
        "- **End to end**: `bench/bench_e2e.py`: `logs2kafka tail` and `kafka2cassandra poll`",
        "  as processes; `logpipe_testkit.traffic.LogWriter` appends real lines stamped with the",
        "  current time and a sequence number at a steady rate; with `--log-id now` a row's",
        "  `toTimestamp(log_id)` is when Cassandra wrote it, so the delay is that minus the",
        "  append time. The sustained rate is searched in steps (2k, 4k, 8k, 16k, 24k, 32k",
        "  lines/s, then one step between the last held and the first lost), each held for",
        f"  {_num(e2e.get('step_seconds'))} s; the lag (lines appended minus rows written, from",
        "  the poller's metrics) must not trend upward.",
        "- **Shippers at a steady rate**: `bench/bench_steady.py`: a writer process appends",
        "  stamped corpus lines to an empty file, one write() per line as Apache does, paced",
        "  by absolute deadlines (line i due at start + i / rate), and reports the rate it",
        "  achieved; each shipper (started as above, ready before the first line, the",
        "  Kafka clients alone among them) follows the file. Its CPU time over the window",
        "  (from the warm-up's end to the writer's last line) over the window's length is its",
        "  share of one core; its RSS is sampled every half second; every line written must",
        "  be in its topic afterwards.",
        "",
        *steady_section(results),
    ]
    steps = (e2e.get("sustain") or {}).get("steps") or []
    if steps:
        parts += [
            "## Sustained-rate search",
            "",
            "| offered lines/s | writer achieved | lag slope (lines/s) | final lag | held |",
            "|---:|---:|---:|---:|---|",
        ]
        for s in steps:
            parts.append(
                f"| {_num(s['offered'])} | {_num(s['achieved_offered'])} |"
                f" {_num(s['lag_slope_per_s'], 1)} | {_num(s['final_lag'])} |"
                f" {'yes' if s['sustained'] else 'no'} |"
            )
        parts.append("")
    if e2e.get("memory_series"):
        parts += [
            "## Memory over time",
            "",
            "RSS of both daemons, sampled every second through the end-to-end run:",
            "",
            f"![RSS of both daemons during the end-to-end run]({links['memory']})",
            "",
        ]
    if isinstance(e2e, dict) and e2e.get("failed"):
        parts += [f"End to end failed in this run: {e2e['failed']}", ""]
    parts += [
        "## Reproduce",
        "",
        "```sh",
        "make bench-quick   # about 3 minutes: small sizes, one round",
        "make bench         # three interleaved rounds + the end-to-end run",
        "```",
        "",
        "Both install what they need (the `bench` extra; rsyslog, rsyslog-kafka and kcat",
        "with `apt-get` when missing: a contender that cannot be installed is reported as",
        "unavailable). `make bench` writes `bench/results/latest.json`, this page and the",
        "charts; `make bench-quick` writes the same files into `bench/results/local/`, which",
        "git ignores, so only a full run changes the published results.",
        "",
        "`make bench-steady` runs the steady-rate measurement alone (one round, printed, no",
        "file written).",
        "",
        *FLUENT_BIT_BUILD,
        *CONNECTOR_BUILD,
    ]
    text = "\n".join(p for p in parts if p is not None)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def throughput_chart(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = list(results["components"].values())
    bars = sum(len(c["contenders"]) for c in comps)
    fig, axes = plt.subplots(len(comps), 1, figsize=(9, 0.8 + 0.7 * len(comps) + 0.4 * bars))
    if len(comps) == 1:
        axes = [axes]
    for ax, comp in zip(axes, comps, strict=True):
        names = [n for n, r in comp["contenders"].items() if "rate" in r]
        rates = [comp["contenders"][n]["rate"] for n in names]
        colors = ["#1f77b4" if n.startswith(OURS) else "#999999" for n in names]
        ax.barh(names[::-1], rates[::-1], color=colors[::-1])
        ax.set_xscale("log")
        ax.set_title(f"{comp['title']} ({comp['unit']}, log scale)", fontsize=10, loc="left")
        for y, value in enumerate(rates[::-1]):
            ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
        if rates:
            ax.set_xlim(min(rates) / 2, max(rates) * 4)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.5, 0.5, "unavailable in this run", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9)  # fmt: skip
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"logpipe vs baselines, {results['mode']} run {results['generated']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def memory_chart(e2e: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name, series in e2e["memory_series"].items():
        ax.plot([t for t, _ in series], [v for _, v in series], label=name)
    top = max((v for s in e2e["memory_series"].values() for _, v in s), default=1)
    for when, label in e2e.get("phases", []):
        ax.axvline(when, color="#cccccc", linewidth=0.8)
        ax.text(when, top * 1.28, f" {label}", fontsize=7, rotation=90, va="top")
    ax.set_ylim(0, top * 1.3)
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MB)")
    ax.set_title("RSS of both daemons during the end-to-end run", fontsize=10, loc="left")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_all(results: dict[str, Any]) -> list[Path]:
    """The document and the charts of ``results``, where its mode says (``destinations``)."""
    _json, doc, throughput_png, memory_png = destinations(results.get("mode") == "quick")
    doc.parent.mkdir(parents=True, exist_ok=True)
    written = []
    doc.write_text(document(results))
    written.append(doc)
    try:
        if results.get("components"):
            written.append(throughput_chart(results, throughput_png))
        e2e = results.get("end_to_end") or {}
        if e2e.get("memory_series"):
            written.append(memory_chart(e2e, memory_png))
    except ImportError as exc:
        kit.say(f"  no charts: {exc} (make bench installs the bench extra with matplotlib)")
    return written


if __name__ == "__main__":
    data = json.loads(RESULTS.read_text())
    for written_path in write_all(data):
        print(written_path)
    print(table(data))
