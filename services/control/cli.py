"""services/ctl: up, down, status, logs, and single-server start/stop for fault tests,
for the single pair, the secure pair (--secure) or the three-node cluster (--cluster).

Every command that changes something holds a lock on the profile's folder, so two callers
(say, two test sessions) never start the same pair or cluster twice.
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

from . import artifacts, cluster, probes, processes, security
from .profile import Profile, load
from .servers import Server, StartError, servers


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "ctl.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _start(profile: Profile, names: list[str]) -> dict[str, object]:
    """Start what is not running yet, wait until all named servers are ready."""
    return _start_servers(profile, [servers(profile)[name] for name in names])


def _start_servers(profile: Profile | cluster.ClusterProfile, chosen: list[Server]) -> dict:
    started_at = time.monotonic()
    artifacts.resolve(profile.cache_dir)
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
    if isinstance(profile, Profile) and profile.secure:
        result["client"] = security.client_info(profile)
    return result


def _stop(profile: Profile, names: list[str]) -> dict[str, int | None]:
    """Stop the named servers in parallel, each by its recorded pid, and wait for them."""
    return _stop_servers([servers(profile)[name] for name in names])


def _stop_servers(chosen: list[Server]) -> dict[str, int | None]:
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
    return _status_servers(servers(profile))


def _status_servers(chosen: dict[str, Server]) -> dict[str, dict[str, object]]:
    report: dict[str, dict[str, object]] = {}
    for name, server in chosen.items():
        pid = server.pid()
        state, detail = "down", ""
        if pid is not None:
            try:
                detail = server.check()
                state = "up"
            except probes.ProbeError as exc:
                state, detail = "starting", str(exc)
        elif probes.port_open(server.host, server.port):
            state, detail = "foreign", "port taken by a process we did not start"
        report[name] = {
            "state": state,
            "pid": pid,
            "address": server.describe(),
            "detail": detail,
            "dir": str(server.dir),
        }
    return report


def _wait_healthy(profile: cluster.ClusterProfile, deadline: float) -> dict[str, object]:
    """Wait until the Kafka quorum lists three brokers and the ring has three UN nodes."""
    while True:
        state = cluster.health(profile)
        if state["healthy"]:
            return state
        if time.monotonic() > deadline:
            raise StartError(f"cluster not healthy after {profile.timeout:.0f} s: {state}")
        time.sleep(0.5)


def _cluster_command(args: argparse.Namespace) -> object:
    """The cluster's verbs: the same as the pair's, on six nodes, and --node to pick one."""
    profile = cluster.load_cluster()
    every = cluster.nodes(profile)
    numbers = [args.node] if getattr(args, "node", None) else range(1, cluster.SIZE + 1)

    def named(kind: str) -> list[Server]:
        return [every[f"{kind}{n}"] for n in numbers]

    if args.command == "up":
        with _locked(profile.run_dir):
            started_at = time.monotonic()
            result = _start_servers(profile, list(every.values()))
            result["health"] = _wait_healthy(profile, time.monotonic() + profile.timeout)
            result["seconds"] = round(time.monotonic() - started_at, 1)
            result["kafka_bootstrap"] = profile.kafka_bootstrap()
            result["run_dir"] = str(profile.run_dir)
            result["cassandra_contact_points"] = ",".join(
                f"{profile.address(n)}:{profile.cassandra_port}" for n in range(1, cluster.SIZE + 1)
            )
            return result
    if args.command == "down":
        with _locked(profile.run_dir):
            return _stop_servers(list(every.values()))
    if args.command.startswith(("start-", "stop-")):
        verb, kind = args.command.split("-", 1)
        with _locked(profile.run_dir):
            if verb == "stop":
                return _stop_servers(named(kind))
            result = _start_servers(profile, named(kind))
            result["health"] = cluster.health(profile)
            return result
    if args.command == "status":
        result = {"nodes": _status_servers(every), "health": cluster.health(profile)}
        if not args.json:
            _print_status(result["nodes"])
            state = result["health"]
            print(
                f"kafka quorum: {len(state['kafka_brokers'])}/{cluster.SIZE} brokers "
                f"{state['kafka_brokers']}; cassandra ring: "
                f"{state['cassandra_up_normal']}/{cluster.SIZE} up and normal; "
                + ("healthy" if state["healthy"] else "NOT healthy")
            )
        return result
    if args.command == "logs":
        kinds = [args.server] if args.server else ["kafka", "cassandra"]
        for kind in kinds:
            for server in named(kind):
                print(f"==> {server.log} <==")
                print(processes.tail(server.log, args.lines))
        return None
    if args.command == "resolve":
        return {"seconds": artifacts.resolve(profile.cache_dir, quiet=False)}
    raise RuntimeError(f"unknown command {args.command}")


def _print_status(rows: dict[str, dict[str, object]]) -> None:
    for name, row in rows.items():
        pid = row["pid"] or "-"
        print(
            f"{name:<10} {row['state']:<8} pid {pid!s:<8} {row['address']}  "
            f"{row['detail']}  [{row['dir']}]"
        )


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
            "--cluster",
            action="store_true",
            default=default,
            help="the cluster: three Kafka nodes (KRaft quorum of three) and a three-node "
            "Cassandra ring on 127.0.0.1-3, beside the single pair",
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
    node = argparse.ArgumentParser(add_help=False)
    node.add_argument(
        "--node",
        type=int,
        choices=range(1, cluster.SIZE + 1),
        help="with --cluster: only node N (1-3); without it, every node of that kind",
    )
    logs.add_argument("--node", type=int, choices=range(1, cluster.SIZE + 1))
    for name in ("kafka", "cassandra"):
        sub.add_parser(
            f"start-{name}", parents=[after, node], help=f"start {name} only, wait until ready"
        )
        sub.add_parser(
            f"stop-{name}", parents=[after, node], help=f"stop {name} only, wait until it exited"
        )
    args = parser.parse_args(argv)
    if args.cluster and args.secure:
        parser.error("--cluster and --secure are separate profiles: choose one")
    if getattr(args, "node", None) and not args.cluster:
        parser.error("--node picks a node of the cluster: add --cluster")
    result: object = None
    if args.cluster:
        try:
            result = _cluster_command(args)
        except (StartError, artifacts.ResolveError, probes.ProbeError, RuntimeError) as exc:
            print(f"services/ctl {args.command} --cluster: {exc}", file=sys.stderr)
            return 1
        if args.json and result is not None:
            print(json.dumps(result))
        return 0
    profile = load(secure=args.secure)
    try:
        if args.command == "up":
            with _locked(profile.run_dir):
                result = _start(profile, ["kafka", "cassandra"])
        elif args.command == "down":
            with _locked(profile.run_dir):
                result = _stop(profile, ["kafka", "cassandra"])
        elif args.command.startswith("start-"):
            with _locked(profile.run_dir):
                result = _start(profile, [args.command.removeprefix("start-")])
        elif args.command.startswith("stop-"):
            with _locked(profile.run_dir):
                result = _stop(profile, [args.command.removeprefix("stop-")])
        elif args.command == "resolve":
            took = artifacts.resolve(profile.cache_dir, quiet=False)
            result = {"seconds": took}
        elif args.command == "status":
            result = _status(profile)
            if not args.json:
                _print_status(result)
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
