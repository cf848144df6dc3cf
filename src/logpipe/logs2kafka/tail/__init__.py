"""Follow log files like ``tail -F``, across rotation and restarts, with durable positions.

One module per concern: ``paths`` (which files), ``identity`` (which file is which),
``reader`` (reading one file), ``follower`` (the loop: ``Tailer``).
"""

from logpipe.logs2kafka.tail.follower import FileStatus, Tailer
from logpipe.logs2kafka.tail.reader import Line

__all__ = ["FileStatus", "Line", "Tailer"]
