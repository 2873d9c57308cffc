"""What a running process shares with the others: the Redis link, rate limits, the revocation list, audit, metrics, logs."""
