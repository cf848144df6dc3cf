"""What tests, benchmarks and the demo share: a log writer like Apache, free ports, readiness.

Not part of the daemons: nothing under ``logpipe`` imports it.
"""
