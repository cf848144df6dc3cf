"""What tests, benchmarks and the demo share: a log writer like Apache, readiness waits.

Not part of the daemons: nothing under ``logpipe`` imports it.
"""
