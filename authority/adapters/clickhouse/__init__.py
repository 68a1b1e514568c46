"""ClickHouse adapters: the access-log schema, the shipper with its hash chains, the audit, and
readers."""
