"""logs2kafka: the forwarder daemon (tail and ship Apache logs into Kafka)."""
