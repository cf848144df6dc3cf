"""Parse + encode, lines/s on one core: logpipe beside two baselines, in one process.

Contenders, each turning a raw line (bytes) into the Kafka message value:

- ``logpipe``: ``LineParser("combined").parse`` + ``envelope.encode`` (orjson).
- ``logpipe, compiled encoder``: what logs2kafka does with a line: the parser's compiled
  ``envelope`` (``logpipe.formats.fast_envelope``), and the above for a line it leaves
  to the parser; unavailable where the compiled module was not built.
- ``tutorial parse``: the tutorial forwarder's ``parse_log_line`` + ``show_entry`` +
  its second ``json.dumps`` (bench/baselines/tutorial_forwarder_parse.py).
- ``apache-log-parser``: the PyPI package (``pip install 'logpipe[bench]'``) with the
  combined format, its result (less the datetime objects JSON cannot hold) encoded with
  orjson, so it is not slowed by a slower encoder; a line it refuses (it raises) is
  encoded flagged, as ours are.

Input: the real combined corpus copied into tests/data/ (10,000 lines, repeated to the
count asked). Each contender runs ``runs`` times in turn (interleaved, so a busy moment
of the machine hits all of them); the figure is the median. ``rate`` is lines per second
of CPU time of this (single-threaded) process, i.e. what one core delivers, which on a
shared machine does not count the time other processes held the core; ``wall_rate`` is
lines per second of wall-clock time, the same on an idle machine.

    .venv/bin/python bench/bench_parse.py [--lines N] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "access-combined-real.log"
sys.path.insert(0, str(ROOT / "bench" / "baselines"))
COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'


def corpus(count: int) -> list[bytes]:
    lines = CORPUS.read_bytes().splitlines()
    return [lines[i % len(lines)] for i in range(count)]


def logpipe_contender() -> Callable[[bytes], bytes]:
    from logpipe.envelope import encode
    from logpipe.formats import LineParser

    parse = LineParser("combined", source="www2").parse

    def one(line: bytes) -> bytes:
        return encode(parse(line))

    return one


def compiled_contender() -> Callable[[bytes], bytes]:
    from logpipe.envelope import encode
    from logpipe.formats import LineParser, fast_envelope

    if not fast_envelope.AVAILABLE:
        raise RuntimeError("logpipe.formats._combined was not built (no C compiler)")
    parser = LineParser("combined", source="www2")
    envelope, parse = parser.envelope, parser.parse

    def one(line: bytes) -> bytes:
        found = envelope(line, None)
        return found[0] if found is not None else encode(parse(line))

    return one


def tutorial_contender() -> Callable[[bytes], bytes]:
    from tutorial_forwarder_parse import forward_one

    return forward_one


def apache_log_parser_contender() -> Callable[[bytes], bytes]:
    import apache_log_parser
    import orjson

    parse = apache_log_parser.make_parser(COMBINED)
    dumps = orjson.dumps

    def one(line: bytes) -> bytes:
        text = line.decode("utf-8")
        try:
            fields = parse(text)
        except apache_log_parser.LineDoesntMatchException:  # line 8899: kept, flagged
            return dumps({"log": text, "parse_error": "no match"})
        return dumps({k: v for k, v in fields.items() if not k.endswith("datetimeobj")})

    return one


CONTENDERS: dict[str, Callable[[], Callable[[bytes], bytes]]] = {
    "logpipe": logpipe_contender,
    "logpipe, compiled encoder": compiled_contender,
    "tutorial parse": tutorial_contender,
    "apache-log-parser": apache_log_parser_contender,
}


def _rate(one: Callable[[bytes], bytes], lines: list[bytes]) -> tuple[float, float]:
    """(lines per CPU second, lines per wall-clock second)."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for line in lines:
        one(line)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return len(lines) / max(cpu, 1e-9), len(lines) / wall


def run(count: int = 10_000, runs: int = 1) -> dict[str, dict[str, Any]]:
    """{contender: {"rate": median lines/s, "runs": [...]}} (or {"unavailable": why})."""
    lines = corpus(count)
    funcs: dict[str, Callable[[bytes], bytes]] = {}
    results: dict[str, dict[str, Any]] = {}
    for name, build in CONTENDERS.items():
        try:
            funcs[name] = build()
            funcs[name](lines[0])  # warm up: imports, caches
        except ImportError as exc:
            results[name] = {"unavailable": f"not installed: {exc.name}"}
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in funcs}
    for _ in range(runs):
        for name, one in funcs.items():
            rates[name].append(_rate(one, lines))
    for name, values in rates.items():
        results[name] = {
            "rate": round(statistics.median(v[0] for v in values), 1),
            "wall_rate": round(statistics.median(v[1] for v in values), 1),
            "runs": [round(v[0], 1) for v in values],
            "lines": count,
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    results = run(opts.lines, opts.runs)
    ours = results["logpipe"].get("rate")
    print(f"parse + encode, {opts.lines:,} lines of {CORPUS.name}, median of {opts.runs} runs")
    for name, row in results.items():
        if "rate" not in row:
            print(f"  {name:20s} {row['unavailable']}")
            continue
        theirs = not name.startswith("logpipe")
        ratio = f"  (logpipe {ours / row['rate']:.1f}x)" if theirs and ours else ""
        runs = ", ".join(f"{v:,.0f}" for v in row["runs"])
        print(
            f"  {name:20s} {row['rate']:>10,.0f} lines/s (CPU)  {row['wall_rate']:>10,.0f}"
            f" lines/s (wall)   CPU runs: {runs}{ratio}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
