"""Making an oversized envelope fit the topic's limit instead of having it refused.

A line of NUL bytes (what a log holds after a power loss) or of invalid UTF-8 grows five
to six times when JSON-escaped, so even a line within ``--max-line-bytes`` can make a
message the topic refuses. Such an envelope is encoded again with its raw line cut: as
much of the line as fits is kept, ``truncated`` is set, and ``parse_error`` says why the
parsed fields are gone (they described the whole line, not what is shipped; they may
also be what made it large). The source, type, datetime and line identity stay.

The common case costs one length comparison on the encoded bytes (in the pipeline);
this module runs only for the rare envelope over the limit.
"""

from __future__ import annotations

from dataclasses import replace

from logpipe.envelope import LogEntry, encode

#: The ``parse_error`` of a line cut to fit (a short reason, like the parser's).
CUT_REASON = "line cut to fit the topic's max.message.bytes"


def fit(entry: LogEntry, limit: int) -> bytes | None:
    """The envelope of ``entry`` with its line cut so the whole message is at most
    ``limit`` bytes; None when not even an empty line fits.

    Binary search on the number of characters kept: the encoded size grows with it, and
    about twenty encodings settle a line of a megabyte.
    """
    text = entry.log
    cut = replace(entry, fields=None, parse_error=CUT_REASON, truncated=True)
    cut.log = ""
    if len(encode(cut)) > limit:
        return None
    low, high = 0, len(text)  # low chars known to fit; more than high known not to
    while low < high:
        middle = (low + high + 1) // 2
        cut.log = text[:middle]
        if len(encode(cut)) <= limit:
            low = middle
        else:
            high = middle - 1
    cut.log = text[:low]
    return encode(cut)
