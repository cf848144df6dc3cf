"""The files a tailer has open now, by (device, inode): one registry every part consults.

Discovery adds files, the copytruncate hand-over looks for a file's copy or its original,
reading walks them and closes the finished ones.  Changed only by the polling thread; the
``Tailer`` reads it under its lock for ``files()``.
"""

from __future__ import annotations

from collections.abc import Iterator

from logpipe.logs2kafka.tail.reader import FileReader


class OpenFiles:
    """Open ``FileReader`` objects by (device, inode), in the order they were opened."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[int, int], FileReader] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[FileReader]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: tuple[int, int]) -> FileReader | None:
        return self._by_key.get(key)

    def add(self, reader: FileReader) -> None:
        self._by_key[reader.key] = reader

    def remove(self, reader: FileReader) -> None:
        del self._by_key[reader.key]

    def ids(self) -> set[str]:
        """The file ids being read (a file held as a possible copy has none yet)."""
        return {r.file_id for r in self._by_key.values()}

    def by_id(self) -> dict[str, FileReader]:
        return {r.file_id: r for r in self._by_key.values()}

    def original(self, file_id: str) -> FileReader | None:
        """The open file read as ``file_id`` (not a copy held unread), if any."""
        return next((r for r in self._by_key.values() if r.file_id == file_id and r.fd >= 0), None)

    def close_all(self) -> None:
        for reader in self._by_key.values():
            reader.close()
        self._by_key.clear()
