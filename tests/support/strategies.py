"""Hypothesis strategies shared by the property tests of line reading."""

from __future__ import annotations

from hypothesis import strategies as st


def line_bytes(max_len: int) -> st.SearchStrategy[bytes]:
    """One line's bytes, no newline: lengths drawn evenly up to ``max_len`` (not mostly
    short), with a little noise so lines differ."""
    return st.builds(
        lambda n, noise: (noise + b"x" * n)[:n].replace(b"\n", b"."),
        st.integers(0, max_len),
        st.binary(max_size=8),
    )
