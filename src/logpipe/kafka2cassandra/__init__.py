"""kafka2cassandra: the poller daemon (Kafka log envelopes into Cassandra rows)."""
