"""The compiled part of logpipe: built where a C compiler is, optional everywhere.

``logpipe.formats._combined`` encodes the envelope of a plain combined-format line in one
call; without it (no compiler, an unusual platform) the Python parser does the same work,
more slowly. Everything else is configured in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "logpipe.formats._combined",
            ["src/logpipe/formats/_combined.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
        )
    ]
)
