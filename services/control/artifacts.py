"""The server jars: resolved by Maven from Maven Central into the cache, once.

A cache folder is complete when its stamp matches the pom files it was resolved from; then
ctl does not run Maven at all. Otherwise it runs `mvn dependency:copy-dependencies`
(quietly; Maven itself answers from ~/.m2 without network when the artifacts are there).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .profile import SERVICES_DIR

SERVERS = ("kafka", "cassandra")
POMS = (
    SERVICES_DIR / "pom.xml",
    SERVICES_DIR / "kafka" / "pom.xml",
    SERVICES_DIR / "cassandra" / "pom.xml",
)


class ResolveError(Exception):
    """Maven could not assemble the server jars."""


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for pom in POMS:
        digest.update(pom.read_bytes())
    return digest.hexdigest()


def complete(cache_dir: Path) -> bool:
    expected = _fingerprint()
    for server in SERVERS:
        stamp = cache_dir / server / "resolved"
        if not stamp.exists() or stamp.read_text().strip() != expected:
            return False
        if not any((cache_dir / server / "lib").glob("*.jar")):
            return False
    return True


def resolve(cache_dir: Path, quiet: bool = True) -> float | None:
    """Make the cache complete; returns the seconds Maven took, or None if nothing to do."""
    if complete(cache_dir):
        return None
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ResolveError("Maven (mvn) is not installed: apt-get install maven")
    for server in SERVERS:
        shutil.rmtree(cache_dir / server, ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    argv = [mvn, "-B", "-f", str(SERVICES_DIR / "pom.xml"), f"-Dservices.cache={cache_dir}"]
    if quiet:
        argv.append("-q")
    argv.append("dependency:copy-dependencies")
    print(f"resolving Apache Kafka and Apache Cassandra jars into {cache_dir} ...", file=sys.stderr)
    started = time.monotonic()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    took = time.monotonic() - started
    if result.returncode != 0:
        raise ResolveError(
            f"mvn failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    fingerprint = _fingerprint()
    for server in SERVERS:
        (cache_dir / server / "resolved").write_text(fingerprint + "\n")
    print(f"resolved in {took:.1f} s", file=sys.stderr)
    return took
