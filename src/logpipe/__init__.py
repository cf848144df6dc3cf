"""logpipe: Apache access logs into Cassandra through Kafka, without losing a line."""

__version__ = "0.1.0"
