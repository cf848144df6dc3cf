"""Follow log files like ``tail -F``, across rotation and restarts, with durable positions.

``Tailer`` (``tailer``) is the whole API; behind it one module per concern: ``discovery``
(which files, where each starts), ``harvest`` (reading them in turn, finishing rotated
ones), ``copytruncate`` (a truncated file continued in its copy), ``siblings`` (lines
found again next to a path: copies, compressed generations), ``positions`` (ack
trackers and the checkpoint store), ``reader`` (one file), ``identity`` (which file is
which), ``paths`` (globs), ``files`` (the open files).
"""

from logpipe.logs2kafka.tail.reader import Line
from logpipe.logs2kafka.tail.tailer import FileStatus, Tailer

__all__ = ["FileStatus", "Line", "Tailer"]
