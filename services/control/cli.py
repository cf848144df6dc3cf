"""services/ctl: up, down, status, logs, and single-server start/stop for fault tests.

Every command that changes something holds a lock on the profile's folder, so two callers
(say, two test sessions) never start the same pair twice.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from . import artifacts, probes, processes, security
from .profile import Profile, load
from .servers import HOST, Server, StartError, servers


@contextlib.contextmanager
def _locked(profile: Profile) -> Iterator[None]:
    profile.run_dir.mkdir(parents=True, exist_ok=True)
    with open(profile.run_dir / "ctl.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _start(profile: Profile, names: list[str]) -> dict[str, object]:
    """Start what is not running yet, wait until all named servers are ready."""
    started_at = time.monotonic()
    artifacts.resolve(profile.cache_dir)
    chosen = [servers(profile)[name] for name in names]
    started: list[str] = []
    ready = {}
    try:
        for server in chosen:
            if server.pid() is None:
                server.start()
                started.append(server.name)
        deadline = time.monotonic() + profile.timeout
        for server in chosen:
            ready[server.name] = server.wait_ready(deadline)
            server.after_ready()
    except (StartError, probes.ProbeError, RuntimeError):
        for server in chosen:
            if server.name in started:
                server.stop()
        raise
    took = time.monotonic() - started_at
    for server in chosen:
        how = "started" if server.name in started else "already running"
        print(
            f"{server.name:<9} ready on {server.describe()}, pid {server.pid()}, {how}: "
            f"{ready[server.name]}",
            file=sys.stderr,
        )
    result: dict[str, object] = {"started": started, "seconds": round(took, 1), "ready": ready}
    if profile.secure:
        result["client"] = security.client_info(profile)
    return result


def _stop(profile: Profile, names: list[str]) -> dict[str, int | None]:
    """Stop the named servers in parallel, each by its recorded pid, and wait for them."""
    chosen = [servers(profile)[name] for name in names]
    stopped: dict[str, int | None] = {}

    def stop(server: Server) -> None:
        stopped[server.name] = server.stop()

    threads = [threading.Thread(target=stop, args=(server,)) for server in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for server in chosen:
        pid = stopped[server.name]
        print(
            f"{server.name:<9} " + (f"stopped (pid {pid})" if pid else "was not running"),
            file=sys.stderr,
        )
    return stopped


def _status(profile: Profile) -> dict[str, dict[str, object]]:
    report: dict[str, dict[str, object]] = {}
    for name, server in servers(profile).items():
        pid = server.pid()
        state, detail = "down", ""
        if pid is not None:
            try:
                detail = server.check()
                state = "up"
            except probes.ProbeError as exc:
                state, detail = "starting", str(exc)
        elif probes.port_open(HOST, server.port):
            state, detail = "foreign", "port taken by a process we did not start"
        report[name] = {
            "state": state,
            "pid": pid,
            "address": server.describe(),
            "detail": detail,
            "dir": str(server.dir),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    def flags(default: object) -> argparse.ArgumentParser:
        # accepted before or after the command: `ctl --secure up` and `ctl up --secure`
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument(
            "--secure",
            action="store_true",
            default=default,
            help="the secure profile: Kafka SASL/SCRAM over TLS, Cassandra passwords + TLS",
        )
        common.add_argument(
            "--json", action="store_true", default=default, help="print the outcome as JSON"
        )
        return common

    parser = argparse.ArgumentParser(
        prog="services/ctl",
        description="Real Apache Kafka and Apache Cassandra on 127.0.0.1, from Maven Central jars.",
        parents=[flags(False)],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    after = flags(argparse.SUPPRESS)
    sub.add_parser(
        "up", parents=[after], help="resolve jars if needed, start both servers, wait until ready"
    )
    sub.add_parser("down", parents=[after], help="stop both servers (by recorded pid), wait")
    sub.add_parser("status", parents=[after], help="what runs where")
    sub.add_parser("resolve", parents=[after], help="only resolve the jars into the cache")
    logs = sub.add_parser("logs", parents=[after], help="the end of the servers' logs")
    logs.add_argument("server", nargs="?", choices=["kafka", "cassandra"])
    logs.add_argument("-n", "--lines", type=int, default=40)
    for name in ("kafka", "cassandra"):
        sub.add_parser(
            f"start-{name}", parents=[after], help=f"start {name} only, wait until ready"
        )
        sub.add_parser(
            f"stop-{name}", parents=[after], help=f"stop {name} only, wait until it exited"
        )
    args = parser.parse_args(argv)
    profile = load(secure=args.secure)
    result: object = None
    try:
        if args.command == "up":
            with _locked(profile):
                result = _start(profile, ["kafka", "cassandra"])
        elif args.command == "down":
            with _locked(profile):
                result = _stop(profile, ["kafka", "cassandra"])
        elif args.command.startswith("start-"):
            with _locked(profile):
                result = _start(profile, [args.command.removeprefix("start-")])
        elif args.command.startswith("stop-"):
            with _locked(profile):
                result = _stop(profile, [args.command.removeprefix("stop-")])
        elif args.command == "resolve":
            took = artifacts.resolve(profile.cache_dir, quiet=False)
            result = {"seconds": took}
        elif args.command == "status":
            result = _status(profile)
            if not args.json:
                for name, row in result.items():
                    pid = row["pid"] or "-"
                    print(
                        f"{name:<9} {row['state']:<8} pid {pid!s:<8} {row['address']}  "
                        f"{row['detail']}  [{row['dir']}]"
                    )
        elif args.command == "logs":
            for name in [args.server] if args.server else ["kafka", "cassandra"]:
                log = Path(servers(profile)[name].log)
                print(f"==> {log} <==")
                print(processes.tail(log, args.lines))
    except (StartError, artifacts.ResolveError, probes.ProbeError, RuntimeError) as exc:
        print(f"services/ctl {args.command}: {exc}", file=sys.stderr)
        return 1
    if args.json and result is not None:
        print(json.dumps(result))
    return 0
