"""kafka2cassandra: the poller daemon (Kafka log envelopes into Cassandra rows).

- ``cli``: the ``kafka2cassandra`` command (poll, schema, query); no logic.
- ``poller``: the poll loop (connect, poll, flow control, stop, health); ``config``:
  ``PollerConfig``.
- ``rows``: records into rows and rows into write requests (pure).
- ``delivery``: rows written, dead letters sent, failures retried, offsets marked done.
- ``dead_letter``: routing records aside, the ``DLQ_*`` headers.
- ``offsets``: ``OffsetTracker``; ``commits``: offset commits and the rebalance listener.
- ``metrics``: ``PollerMetrics``.
"""
