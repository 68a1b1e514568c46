"""The access log: every event buffered durably in Redis, shipped to ClickHouse, hash-chained,
queryable by analysts and site owners, impossible to delete (only TTL expiry removes rows)."""
