"""services/ctl: run real Apache Kafka and Apache Cassandra on loopback from Maven Central jars."""
