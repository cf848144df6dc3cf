"""Which files to follow: the operator's paths and globs, expanded on every rescan, and
where a followed file went when it was renamed."""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable, Sequence

from logpipe.logs2kafka.tail.identity import file_key

# Rotated files compressed by logrotate also match broad globs such as ``access.log*``;
# their bytes are not log lines, so they are never followed.
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z")


def expand(patterns: Sequence[str], unmatched: list[str] | None = None) -> list[str]:
    """Every existing path matching the patterns, in a stable order, without duplicates.

    A pattern without glob characters is returned as is if it exists, so a plain path
    works even if its name contains ``[``.  ``**`` matches any depth of directories.
    The patterns that match nothing are appended to ``unmatched`` (when given).
    """
    seen: set[str] = set()
    out: list[str] = []
    for pattern in patterns:
        before = len(out)
        expanded = os.path.expanduser(pattern)
        if glob.has_magic(expanded):
            matches: Iterable[str] = sorted(glob.glob(expanded, recursive=True))
        else:
            matches = [expanded] if os.path.lexists(expanded) else []
        for path in matches:
            if path not in seen and not path.endswith(COMPRESSED_SUFFIXES):
                seen.add(path)
                out.append(path)
        if unmatched is not None and len(out) == before:
            unmatched.append(pattern)
    return out


def scan(
    patterns: Sequence[str], unmatched: list[str] | None = None
) -> dict[tuple[int, int], tuple[str, os.stat_result]]:
    """Map (device, inode) -> (path, stat) for every regular file the patterns match.

    The first path wins when two names lead to the same file (hard link, symlink).  A
    file that vanishes between listing and stat is simply not there this time. Patterns
    that match no path go to ``unmatched`` (when given).
    """
    found: dict[tuple[int, int], tuple[str, os.stat_result]] = {}
    for path in expand(patterns, unmatched):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.setdefault(file_key(st), (path, st))
    return found


def find_inode(directory: str, dev: int, ino: int) -> tuple[str, os.stat_result] | None:
    """A regular file in ``directory`` with this device and inode, if there is one: where a
    file renamed by rotation is found again (logrotate renames within the directory)."""
    try:
        with os.scandir(directory) as it:
            for item in it:
                if item.inode() != ino:
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_dev == dev and item.is_file(follow_symlinks=False):
                    return item.path, st
    except OSError:
        return None
    return None
