"""The JVMs we start: recorded by pid (with the kernel's start time, so a reused pid is not
mistaken for ours), stopped by that pid only, never looked up by name."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Recorded:
    pid: int
    start_time: str


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # exited, not yet reaped: not running
        return None
    return fields[19]


def read_pidfile(path: Path) -> Recorded | None:
    try:
        pid_text, start = path.read_text().split()
        return Recorded(int(pid_text), start)
    except (OSError, ValueError):
        return None


def alive(path: Path) -> int | None:
    """The recorded pid if that very process still runs, else None."""
    recorded = read_pidfile(path)
    if recorded is None:
        return None
    if _start_time(recorded.pid) != recorded.start_time:
        return None
    return recorded.pid


def _reap(pid: int) -> None:
    """Collect our own child if it exited (when ctl started it in this same run)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn(argv: list[str], cwd: Path, log_path: Path, pidfile: Path) -> int:
    """Start argv detached (own session, stdin closed, output appended to log_path)."""
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    start = None
    for _ in range(100):
        start = _start_time(process.pid)
        if start is not None:
            break
        time.sleep(0.01)
    tmp = pidfile.with_suffix(".tmp")
    tmp.write_text(f"{process.pid} {start or 0}\n")
    tmp.replace(pidfile)
    return process.pid


def running(pid: int) -> bool:
    _reap(pid)
    return _start_time(pid) is not None


def stop(pidfile: Path, grace: float = 45.0) -> int | None:
    """SIGTERM the recorded process, SIGKILL it after `grace` seconds, wait until it is gone.

    Returns the pid that was stopped, or None if nothing of ours was running.
    """
    pid = alive(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while running(pid):
            time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    return pid


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages and `ctl logs`."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            data = handle.read()
    except OSError:
        return f"(no log at {path})"
    return b"\n".join(data.splitlines()[-lines:]).decode(errors="replace")
